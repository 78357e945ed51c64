/** @odoo-module **/
// The user's unread mail in the Inbox, shown on the Mail app's Inbox menu.
// Counted when the Mail app is shown, again when a list or the reading pane
// marks mail read or unread, and on the server's word (another tab).
import { reactive } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

const MAIL_APP = "crm_mail_client.crm_mail_menu_root";

export const crmMailUnreadService = {
    dependencies: ["orm", "bus_service", "menu"],
    start(env, { orm, bus_service, menu }) {
        const state = reactive({ inbox: 0, more: false });
        let running = null;
        let again = false;

        async function count() {
            if (!(await user.hasGroup("crm_mail_client.group_mail_user"))) {
                return;
            }
            const counts = await orm.silent.call("crm.mail.message", "get_unread_counts", []);
            Object.assign(state, counts);
        }

        /** Count again; calls while counting make one more count after it. */
        function refresh() {
            if (running) {
                again = true;
                return running;
            }
            running = count()
                .catch(() => {}) // a count that fails leaves the last one
                .finally(() => {
                    running = null;
                    if (again) {
                        again = false;
                        refresh();
                    }
                });
            return running;
        }

        bus_service.subscribe("crm_mail_client/unread_changed", () => refresh());
        bus_service.subscribe("crm_mail_client/new_mail", () => refresh());
        const inMailApp = () => {
            if (menu.getCurrentApp()?.xmlid === MAIL_APP) {
                refresh();
            }
        };
        // entering the app, and each screen in it (lists read mail)
        env.bus.addEventListener("MENUS:APP-CHANGED", inMailApp);
        env.bus.addEventListener("ACTION_MANAGER:UI-UPDATED", inMailApp);
        return {
            state,
            refresh,
            get label() {
                return state.more ? `${state.inbox}+` : String(state.inbox);
            },
        };
    },
};

registry.category("services").add("crm_mail_unread", crmMailUnreadService);
