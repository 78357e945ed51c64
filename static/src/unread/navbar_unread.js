/** @odoo-module **/
// The Inbox menu of the Mail app shows the user's unread count.
import { useState } from "@odoo/owl";
import { patch } from "@web/core/utils/patch";
import { useService } from "@web/core/utils/hooks";
import { NavBar } from "@web/webclient/navbar/navbar";

export const INBOX_MENU = "crm_mail_client.crm_mail_message_menu_inbox";

patch(NavBar.prototype, {
    setup() {
        super.setup(...arguments);
        this.crmMailUnread = useService("crm_mail_unread");
        this.crmMailUnreadState = useState(this.crmMailUnread.state);
        this.crmMailInboxMenu = INBOX_MENU;
    },
});
