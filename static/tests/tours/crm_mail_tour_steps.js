/** @odoo-module **/
// Steps shared by the tours.

/** From the home screen to the Mail app (it opens on the Inbox). */
export function openMailApp() {
    return [
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
    ];
}
