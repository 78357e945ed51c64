/** @odoo-module **/
// A link that shows more of a form ("Cc, Bcc, Template"): it sets its
// boolean field, which the fields it hides depend on.
import { Component, xml } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

export class CrmMailRevealField extends Component {
    static template = xml`
        <button type="button" class="btn btn-link p-0 o_crm_mail_reveal"
                t-on-click="() => this.props.record.update({ [this.props.name]: true })">
            <t t-esc="props.record.fields[props.name].string"/>
        </button>`;
    static props = { ...standardFieldProps };
}

registry.category("fields").add("crm_mail_reveal", {
    component: CrmMailRevealField,
    supportedTypes: ["boolean"],
});
