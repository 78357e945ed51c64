/** @odoo-module **/
// The composer's larger mode: its dialog fills the screen, and back.
import { Component, useRef, useState, xml } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

export class CrmMailFullScreen extends Component {
    static template = xml`
        <button type="button" t-ref="button"
                class="btn btn-link btn-sm o_crm_mail_fullscreen position-absolute top-0 end-0"
                t-att-title="state.full ? labels.exit : labels.enter"
                t-att-aria-label="state.full ? labels.exit : labels.enter"
                t-on-click="toggle">
            <i t-att-class="state.full ? 'fa fa-compress' : 'fa fa-expand'"/>
        </button>`;
    static props = { ...standardWidgetProps };

    setup() {
        this.button = useRef("button");
        this.state = useState({ full: false });
        this.labels = { enter: _t("Full screen"), exit: _t("Back to a dialog") };
    }

    toggle() {
        const dialog = this.button.el?.closest(".modal-dialog");
        if (dialog) {
            this.state.full = dialog.classList.toggle("modal-fullscreen");
        }
    }
}

registry.category("view_widgets").add("crm_mail_fullscreen", {
    component: CrmMailFullScreen,
});
