/** @odoo-module **/
// A sales user answers a customer from the company's Mail tab (issue: workspace).
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

async function isUnread(subject) {
    const mails = await rpc("/web/dataset/call_kw/crm.mail.message/search_read", {
        model: "crm.mail.message",
        method: "search_read",
        args: [[["subject", "=", subject]]],
        kwargs: { fields: ["is_unread"] },
    });
    return mails[0].is_unread;
}

registry.category("web_tour.tours").add("crm_mail_client_reply_tour", {
    steps: () => [
        {
            content: "Open the company's Mail tab",
            trigger: ".o_notebook a.nav-link[name='crm_mail']",
            run: "click",
        },
        {
            content: "The contact's mail is on the company: open it",
            trigger:
                ".o_field_widget[name='crm_mail_message_ids'] .o_data_row td:contains('Заказ 15')",
            run: "click",
        },
        {
            content: "Its attachments under the text, with their sizes",
            trigger: ".modal .o_notebook .tab-pane.active .o_crm_mail_attachment:contains('invoice.html'):contains('bytes')",
        },
        {
            content: "Opened in the tab's dialog, the mail is read",
            trigger: ".modal .o_form_view",
            async run() {
                for (let i = 0; i < 50 && (await isUnread("Заказ 15")); i++) {
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
                if (await isUnread("Заказ 15")) {
                    throw new Error("the mail opened from the Mail tab is still unread");
                }
            },
        },
        {
            content: "An HTML attachment is only downloaded, never rendered in Odoo",
            trigger: ".modal .o_crm_mail_attachment a[download]:contains('invoice.html')",
            run() {
                const preview = [...document.querySelectorAll(".modal .o_crm_mail_attachment_preview")];
                if (preview.some((link) => link.textContent.includes("invoice.html"))) {
                    throw new Error("the HTML attachment opens in the file viewer");
                }
            },
        },
        {
            content: "Preview the PDF (its hostile file name is only text)",
            trigger: ".modal a.o_crm_mail_attachment_preview:contains('.pdf')",
            run: "click",
        },
        {
            content: "The file viewer shows it",
            trigger: ".o-FileViewer .o-FileViewer-main iframe[src*='viewer.html']",
        },
        {
            content: "Close the preview",
            trigger: ".o-FileViewer div[role='button'][aria-label='Close']",
            run: "click",
        },
        {
            content: "Reply",
            trigger: ".modal button[name='action_reply']",
            run: "click",
        },
        {
            content: "The reply is addressed to the sender",
            trigger: ".modal .o_field_widget[name='email_to'] .o_crm_mail_recipient[data-email='ivan@romashka.example']",
            run() {
                const chips = document.querySelectorAll(".modal .o_crm_mail_recipient");
                if (chips.length !== 1) {
                    throw new Error(`the recipient shows ${chips.length} times`);
                }
            },
        },
        {
            content: "Subject prefixed once",
            trigger: ".modal .o_field_widget[name='subject'] input:value(Re: Заказ 15)",
        },
        {
            content: "Send",
            trigger: ".modal button[name='action_send']",
            run: "click",
        },
        {
            content: "Queued: the send cron sends it, never the request",
            trigger: ".o_notification:contains('Mail queued')",
        },
        {
            content: "Close the mail",
            trigger: ".modal .modal-header .btn-close",
            run: "click",
        },
        {
            content: "All the company's mail",
            trigger: ".o_form_view:not(:has(.modal)) button[name='action_view_crm_mail']",
            run: "click",
        },
        {
            content: "The mail list of the company (with its search panel)",
            trigger: ".o_action_manager .o_search_panel",
        },
        {
            content: "Open the customer's mail",
            trigger: ".o_list_view .o_data_row td[name='subject']:contains('Заказ 15'):not(:contains('Re:'))",
            run: "click",
        },
        {
            content: "Its conversation holds two mails",
            trigger: ".o_crm_mail_pane .o_field_widget[name='thread_count']:contains('2')",
        },
        {
            content: "Open the conversation",
            trigger: ".o_crm_mail_pane button[name='action_view_thread']",
            run: "click",
        },
        {
            content: "The conversation starts with the customer's mail",
            trigger:
                ".o_list_view .o_data_row:first td[name='subject']:contains('Заказ 15'):not(:contains('Re:'))",
        },
        {
            content: "Our reply is in the thread, after it",
            trigger: ".o_list_view .o_data_row:last td[name='subject']:contains('Re: Заказ 15')",
        },
        {
            content: "No script of the mail ran anywhere on the way",
            trigger: "body",
            run() {
                if (window.xss) {
                    throw new Error(`a script of the mail ran (window.xss = ${window.xss})`);
                }
            },
        },
    ],
});
