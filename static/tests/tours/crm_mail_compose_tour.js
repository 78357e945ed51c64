/** @odoo-module **/
// Esc in the composer asks before throwing a mail away; "Save Draft" keeps
// it; a changing mail is kept in Drafts on its own (every second here), once,
// and Discard removes that draft; the composer goes full screen and back.
import { browser } from "@web/core/browser/browser";
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("crm_mail_client_compose_esc_tour", {
    steps: () => [
        {
            content: "Autosave every second for this test",
            trigger: "body",
            run() {
                browser.localStorage.setItem("crm_mail_client.autosave_ms", "1000");
            },
        },
        {
            content: "New Mail from the Inbox",
            trigger: ".o_list_view .o_control_panel button[name='action_new_mail'], .o_list_buttons button[name='action_new_mail'], button[name='action_new_mail']",
            run: "click",
        },
        {
            content: "Type an address in the one recipient field",
            trigger: ".modal .o_field_widget[name='email_to'] input",
            run: "edit olga@other.example",
        },
        {
            content: "...it is offered as it is",
            trigger: ".modal .o_field_widget[name='email_to'] .dropdown-item:contains('olga@other.example')",
            run: "click",
        },
        {
            content: "...and becomes a chip",
            trigger: ".modal .o_crm_mail_recipient[data-email='olga@other.example']:not(.text-bg-danger)",
        },
        {
            content: "Cc and Bcc wait behind a link",
            trigger: ".modal:not(:has(.o_field_widget[name='email_cc'])) .o_crm_mail_reveal",
            run: "click",
        },
        {
            content: "...which shows them",
            trigger: ".modal .o_field_widget[name='email_cc'] input",
        },
        {
            content: "Text that is no address",
            trigger: ".modal .o_field_widget[name='email_to'] input",
            run: "edit no address here && press Enter",
        },
        {
            content: "...is a red chip",
            trigger: ".modal .o_crm_mail_recipient.text-bg-danger .o_crm_mail_recipient_remove",
            run: "click",
        },
        {
            content: "...removed with its cross",
            trigger: ".modal .o_field_widget[name='email_to']:not(:has(.text-bg-danger))",
        },
        {
            content: "Write a subject",
            trigger: ".modal .o_field_widget[name='subject'] input",
            run: "edit Черновик предложения",
        },
        {
            content: "The close button of the composer",
            trigger: ".modal:not(.o_inactive_modal) .modal-header .btn-close",
            run: "click",
        },
        {
            content: "It asks too",
            trigger: ".modal:not(.o_inactive_modal) .modal-title:contains('Keep this mail?')",
        },
        {
            content: "Closing the question goes back to the mail",
            trigger: ".modal:not(.o_inactive_modal) .modal-header .btn-close",
            run: "click",
        },
        {
            content: "...which kept its text",
            trigger: ".modal:not(.o_inactive_modal) .o_field_widget[name='subject'] input",
            run() {
                if (this.anchor.value !== "Черновик предложения") {
                    throw new Error(`the subject was lost: "${this.anchor.value}"`);
                }
            },
        },
        {
            content: "Full screen",
            trigger: ".modal .o_crm_mail_fullscreen",
            run: "click",
        },
        {
            content: "...and back",
            trigger: ".modal .modal-dialog.modal-fullscreen .o_crm_mail_fullscreen",
            run: "click",
        },
        {
            content: "The mail is kept in Drafts on its own",
            trigger: ".modal .modal-dialog:not(.modal-fullscreen)",
            async run() {
                for (let i = 0; i < 100 && (await drafts("Черновик предложения")) !== 1; i++) {
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
                if ((await drafts("Черновик предложения")) !== 1) {
                    throw new Error("the mail was not kept in Drafts");
                }
            },
        },
        {
            content: "Escape",
            trigger: ".modal .o_field_widget[name='subject'] input",
            run: "press Escape",
        },
        {
            content: "The composer asks instead of discarding",
            trigger: ".modal-title:contains('Keep this mail?')",
        },
        {
            content: "Keep it as a draft",
            trigger: ".modal:not(.o_inactive_modal) .modal-footer button.btn-primary:contains('Save Draft')",
            run: "click",
        },
        {
            content: "The composer is closed",
            trigger: "body:not(:has(.modal))",
            async run() {
                const found = await drafts("Черновик предложения");
                if (found !== 1) {
                    throw new Error(`expected the draft to be kept once, found ${found}`);
                }
            },
        },
        {
            content: "Another new mail",
            trigger: "button[name='action_new_mail']",
            run: "click",
        },
        {
            content: "A subject",
            trigger: ".modal .o_field_widget[name='subject'] input",
            run: "edit На выброс",
        },
        {
            content: "...kept in Drafts on its own",
            trigger: ".modal .o_field_widget[name='subject'] input",
            async run() {
                for (let i = 0; i < 100 && (await drafts("На выброс")) !== 1; i++) {
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
            },
        },
        {
            content: "Escape, though nothing changed since",
            trigger: ".modal .o_field_widget[name='subject'] input",
            run: "press Escape",
        },
        {
            content: "Discard",
            trigger: ".modal:not(.o_inactive_modal) .modal-footer button:contains('Discard')",
            run: "click",
        },
        {
            content: "The draft kept on its own is gone with the mail",
            trigger: "body:not(:has(.modal))",
            async run() {
                browser.localStorage.removeItem("crm_mail_client.autosave_ms");
                const found = await drafts("На выброс");
                if (found !== 0) {
                    throw new Error(`the discarded mail is still in Drafts (${found})`);
                }
            },
        },
    ],
});

function drafts(subject) {
    return rpc("/web/dataset/call_kw/crm.mail.message/search_count", {
        model: "crm.mail.message",
        method: "search_count",
        args: [[["state", "=", "draft"], ["subject", "=", subject]]],
        kwargs: {},
    });
}
