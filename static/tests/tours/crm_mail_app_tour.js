/** @odoo-module **/
// First contact: the Mail app opens on the Inbox, not on the composer.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("crm_mail_client_app_tour", {
    steps: () => [
        {
            content: "Open the apps menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Open the Mail app",
            trigger: ".o-dropdown--menu .o_app[data-menu-xmlid='crm_mail_client.crm_mail_menu_root']",
            run: "click",
        },
        {
            content: "The Inbox list, with its mail",
            trigger: ".o_list_view .o_data_row td:contains('Заказ 7')",
        },
        {
            content: "...titled Inbox, and no composer over it",
            trigger: ".o_breadcrumb:contains('Inbox')",
            run() {
                if (document.querySelector(".modal .o_form_view")) {
                    throw new Error("the Mail app opened a dialog (the composer?)");
                }
            },
        },
    ],
});
