/** @odoo-module **/
// Opening a mail reads it: the form marks the shown mail read for the
// current user (unread is per user, kept in crm.mail.message.seen), as a
// mail client does. A view widget, not a form controller: it also works in
// the dialog a partner's or lead's Mail tab opens. Reading through RPC or
// a list marks nothing.
import { Component, useEffect, xml } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

export class CrmMailMarkRead extends Component {
    static template = xml`<t/>`;
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        useEffect(
            (resId) => {
                if (resId && this.props.record.data.is_unread) {
                    this.markRead(resId);
                }
            },
            // once per shown mail: "Mark Unread" must not be undone at once
            () => [this.props.record.resId]
        );
    }

    async markRead(resId) {
        const record = this.props.record;
        try {
            await this.orm.call("crm.mail.message", "action_mark_read", [[resId]]);
        } catch {
            // reading goes on: the mail just stays unread
            return;
        }
        // a list beside (the reading pane) un-bolds its row
        this.env.bus.trigger("CRM_MAIL:MARKED_READ", { resId });
        // the form then offers "Mark Unread"; never reload over the user's
        // typing or another mail the form moved to meanwhile
        const isRoot = record.model.root === record;
        if (isRoot && record.resId === resId && !(await record.isDirty())) {
            await record.load();
        }
    }
}

registry.category("view_widgets").add("crm_mail_mark_read", {
    component: CrmMailMarkRead,
});
