/** @odoo-module **/
// The mail form's "More" menu: the CRM actions (Create Lead, Log Note,
// Link to…) and the rarer flags in one dropdown, beside Reply, Reply All,
// Forward and Reviewed. The server says which ones this user can take on
// this mail (``more_actions``); each runs as the form's buttons do.
import { Component } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

export class CrmMailMoreActions extends Component {
    static template = "crm_mail_client.MoreActions";
    static components = { Dropdown, DropdownItem };
    static props = { ...standardWidgetProps };

    get actions() {
        return this.props.record.data.more_actions || [];
    }

    run(name) {
        const record = this.props.record;
        this.env.onClickViewButton({
            clickParams: { type: "object", name },
            getResParams: () => ({
                context: record.context,
                evalContext: record.evalContext,
                resModel: record.resModel,
                resId: record.resId,
                resIds: record.resIds,
            }),
        });
    }
}

registry.category("view_widgets").add("crm_mail_more_actions", {
    component: CrmMailMoreActions,
    fieldDependencies: [{ name: "more_actions", type: "json" }],
});
