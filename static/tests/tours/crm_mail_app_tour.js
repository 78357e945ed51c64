/** @odoo-module **/
// First contact: the Mail app opens on the Inbox, not on the composer.
import { registry } from "@web/core/registry";
import { openMailApp } from "./crm_mail_tour_steps";

registry.category("web_tour.tours").add("crm_mail_client_app_tour", {
    steps: () => [
        ...openMailApp(),
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
