/** @odoo-module **/
// A salesperson's morning, in Russian, with the keyboard: the Mail app opens
// on the Inbox with its unread count, j/k walk the reading pane, e marks
// reviewed and moves on, u marks unread again, a colleague's answer shows,
// r answers, and Esc in the composer keeps a draft.
import { registry } from "@web/core/registry";
import { openMailApp } from "./crm_mail_tour_steps";

const BADGE = ".o_navbar .o_crm_mail_unread_badge";
const CURRENT = ".o_list_view .o_data_row.o_crm_mail_current";

function unreadIs(count) {
    return {
        content: `The Inbox menu counts ${count} unread`,
        trigger: count ? `${BADGE}:contains('${count}')` : `.o_navbar:not(:has(${BADGE}))`,
    };
}

function shown(rowIndex) {
    return {
        content: `Row ${rowIndex} is shown in the reading pane`,
        trigger: `.o_list_view .o_data_row:nth-child(${rowIndex}).o_crm_mail_current`,
        run() {
            const subject = this.anchor.querySelector(".o_crm_mail_subject_text").textContent;
            const pane = document.querySelector(".o_crm_mail_pane .o_form_view h3");
            if (!pane || !pane.textContent.includes(subject)) {
                throw new Error(`the pane shows "${pane?.textContent}", not "${subject}"`);
            }
        },
    };
}

function press(key) {
    return { content: `Press ${key}`, trigger: ".o_list_view", run: `press ${key}` };
}

registry.category("web_tour.tours").add("crm_mail_client_triage_tour", {
    steps: () => [
        ...openMailApp(),
        {
            content: "The Inbox, in Russian, with the reading pane",
            trigger: ".o_breadcrumb:contains('Входящие') ",
        },
        {
            content: "...whose pane waits for a mail",
            trigger: ".o_crm_mail_pane .o_crm_mail_pane_empty",
        },
        unreadIs(5),
        press("j"),
        shown(1),
        unreadIs(4),
        {
            content: "The mail read is no longer bold",
            trigger: `${CURRENT}:not(.fw-bold)`,
        },
        press("e"),
        shown(2),
        {
            content: "The first mail is reviewed",
            trigger: ".o_list_view .o_data_row:nth-child(1) td[name='review_state']:contains('Просмотрено')",
        },
        unreadIs(3),
        press("j"),
        shown(3),
        unreadIs(2),
        press("u"),
        unreadIs(3),
        {
            content: "Unread again: bold",
            trigger: `${CURRENT}.fw-bold`,
        },
        press("k"),
        shown(2),
        {
            content: "A colleague answered this customer: the list shows it",
            trigger: ".o_list_view .o_data_row:has(.o_crm_mail_subject_text:contains('Заказ 3')) .fa-reply",
        },
        {
            content: "Show that mail",
            trigger: ".o_list_view .o_data_row td[name='subject']:has(.o_crm_mail_subject_text:contains('Заказ 3'))",
            run: "click",
        },
        {
            content: "The pane says who answered",
            trigger: ".o_crm_mail_pane .alert-success:contains('Анна Смирнова')",
        },
        {
            content: "Back to the list's keys",
            trigger: ".o_crm_mail_pane_hint",
            run: "click",
        },
        press("r"),
        {
            content: "The reply composer",
            trigger: ".modal .o_field_widget[name='subject'] input",
            run: "edit Re: Заказ 3 — наше предложение",
        },
        {
            content: "Escape",
            trigger: ".modal .o_field_widget[name='subject'] input",
            run: "press Escape",
        },
        {
            content: "The composer asks instead of discarding (in Russian)",
            trigger: ".modal-title:contains('Сохранить это письмо?')",
        },
        {
            content: "Keep it as a draft",
            trigger: ".modal:not(.o_inactive_modal) .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "Back on the Inbox, no error on the way",
            trigger: "body:not(:has(.modal)) .o_list_view",
            run() {
                if (document.querySelector(".o_error_dialog")) {
                    throw new Error("an error dialog showed");
                }
            },
        },
        {
            content: "Open the whole mail",
            trigger: ".o_crm_mail_pane_open",
            run: "click",
        },
        {
            content: "Its More menu",
            trigger: ".o_form_view .o_form_statusbar .o_crm_mail_more",
            run: "click",
        },
        {
            content: "...offers what a salesperson can do, not the administrators' rules",
            trigger: ".o_crm_mail_more_item[data-action='action_create_lead']:contains('Создать лид')",
            run() {
                if (document.querySelector(".o_crm_mail_more_item[data-action='action_create_rule']")) {
                    throw new Error("Create Rule is offered to a salesperson");
                }
            },
        },
    ],
});
