/** @odoo-module **/
// Opening a mail reads it: the form marks the shown mail read for the
// current user (unread is per user, kept in crm.mail.message.seen), as a
// mail client does. Reading through RPC or a list marks nothing.
import { useEffect } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";

export class CrmMailMessageFormController extends FormController {
    setup() {
        super.setup();
        this.orm = useService("orm");
        useEffect(
            (resId) => {
                const root = this.model.root;
                if (resId && root.data.is_unread) {
                    // reload: the form then offers "Mark Unread"
                    this.orm
                        .call("crm.mail.message", "action_mark_read", [[resId]])
                        .then(() => root.load());
                }
            },
            () => [this.model.root.resId]
        );
    }
}

registry.category("views").add("crm_mail_message_form", {
    ...formView,
    Controller: CrmMailMessageFormController,
});
