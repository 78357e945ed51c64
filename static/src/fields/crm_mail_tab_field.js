/** @odoo-module **/
// The Mail tab of a company, contact or lead: when the fetch (the mail
// watcher, the cron, Check Mail) stores mail of this record that the user
// may read, the server says so on the bus and the tab shows it, unless the
// form has unsaved changes (they are never thrown away).
import { onWillUnmount } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { X2ManyField, x2ManyField } from "@web/views/fields/x2many/x2many_field";

export class CrmMailTabField extends X2ManyField {
    setup() {
        super.setup();
        const bus = this.env.services.bus_service;
        const onNewMail = (payload) => {
            const record = this.props.record;
            const ids =
                record.resModel === "crm.lead" ? payload.lead_ids : payload.partner_ids;
            if (!record.resId || !ids?.includes(record.resId) || record.dirty) {
                return;
            }
            record.load();
        };
        bus.subscribe("crm_mail_client/new_mail", onNewMail);
        onWillUnmount(() => bus.unsubscribe("crm_mail_client/new_mail", onNewMail));
    }
}

registry.category("fields").add("crm_mail_tab", {
    ...x2ManyField,
    component: CrmMailTabField,
});
