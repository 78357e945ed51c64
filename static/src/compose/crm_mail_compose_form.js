/** @odoo-module **/
// The composer never throws away what was typed silently: Esc, Discard or
// the close button on a mail with changes asks whether to keep it in Drafts,
// and while the mail changes it is kept in Drafts every half minute (a
// closed tab or a crash loses nothing; Discard removes that draft again).
// The dialog can be made full screen.
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { registry } from "@web/core/registry";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";
import { onMounted, onWillUnmount } from "@odoo/owl";

//: how often a changing mail is kept in Drafts (ms); a browser may set
//: "crm_mail_client.autosave_ms" (the tests do)
const AUTOSAVE_MS = 30000;

export class CrmMailComposeController extends FormController {
    setup() {
        super.setup();
        this.autosavedId = false;
        const every =
            Number(browser.localStorage.getItem("crm_mail_client.autosave_ms")) || AUTOSAVE_MS;
        const autosaveTimer = browser.setInterval(() => this.autosave(), every);
        onWillUnmount(() => browser.clearInterval(autosaveTimer));
        // the newest registration of a key wins, and the dialog (our parent)
        // registers its Escape after its children are mounted: ours comes
        // once the whole dialog is up
        const hotkey = this.env.services.hotkey;
        let removeEscape = null;
        let timer = null;
        // the dialog's close button (x) asks too: caught on its way down
        const onClose = (ev) => {
            if (ev.target.closest(".modal-header .btn-close") && !this.closingConfirmed) {
                ev.stopPropagation();
                ev.preventDefault();
                this.askBeforeClosing();
            }
        };
        let modal = null;
        onMounted(() => {
            modal = this.rootRef.el?.closest(".modal");
            modal?.addEventListener("click", onClose, true);
            timer = setTimeout(() => {
                removeEscape = hotkey.add("escape", () => this.askBeforeClosing(), {
                    bypassEditableProtection: true,
                });
            });
        });
        onWillUnmount(() => {
            modal?.removeEventListener("click", onClose, true);
            clearTimeout(timer);
            removeEscape?.();
        });
    }

    async beforeExecuteActionButton(clickParams) {
        // Send or Save Draft: never beside an autosave (two mails); a button
        // that fails never calls back: the mark expires
        this.buttonSince = Date.now();
        await this.autosavePromise;
        // Discard, with text typed: the same question as Esc
        if (
            clickParams.special === "cancel" &&
            !this.closingConfirmed &&
            (this.autosavedId || (await this.model.root.isDirty()))
        ) {
            this.buttonSince = 0;
            this.askBeforeClosing();
            return false;
        }
        return super.beforeExecuteActionButton(clickParams);
    }

    async afterExecuteActionButton(clickParams) {
        this.buttonSince = 0;
        return super.afterExecuteActionButton(clickParams);
    }

    /** Keep the mail in Drafts if it changed since the last time. */
    autosave() {
        if (!this.autosavePromise) {
            this.autosavePromise = this._autosave().finally(() => {
                this.autosavePromise = null;
            });
        }
        return this.autosavePromise;
    }

    async _autosave() {
        const record = this.model.root;
        const buttonRunning = Date.now() - (this.buttonSince || 0) < 10000;
        if (this.closingConfirmed || buttonRunning || !(await record.isDirty())) {
            return;
        }
        try {
            if (!(await record.save({ reload: false, onError: () => false }))) {
                return;
            }
            const draftId = await this.orm.silent.call(
                "crm.mail.compose",
                "action_autosave",
                [[record.resId]]
            );
            if (draftId) {
                this.autosavedId = draftId;
            }
        } catch {
            // the next tick tries again; Save Draft and Send say what is wrong
        }
    }

    async askBeforeClosing() {
        // an editor commits its text lazily: ask the record, not the flag; a
        // mail kept on its own in Drafts is asked about too (once an
        // autosave under way has told whether it kept one)
        await this.autosavePromise;
        if (!this.autosavedId && !(await this.model.root.isDirty())) {
            this.closeComposer();
            return;
        }
        this.env.services.dialog.add(ConfirmationDialog, {
            title: _t("Keep this mail?"),
            body: _t("Save it in Drafts to finish it later, or discard what you wrote."),
            confirmLabel: _t("Save Draft"),
            confirm: () => this.saveDraft(),
            cancelLabel: _t("Discard"),
            cancel: () => this.closeComposer(),
            // closing this question goes back to the mail
            dismiss: () => {},
        });
    }

    async saveDraft() {
        const button = this.rootRef.el
            .closest(".modal")
            ?.querySelector("button[name='action_save_draft']");
        if (button) {
            button.click();
        }
    }

    async closeComposer() {
        this.closingConfirmed = true;
        // an autosave under way may be making the draft to remove
        await this.autosavePromise;
        const record = this.model.root;
        if (this.autosavedId && record.resId) {
            // discarded: the draft kept on its own goes too
            await this.orm.call("crm.mail.compose", "action_discard_autosave", [
                [record.resId],
            ]);
        }
        this.env.dialogData?.close();
    }
}

registry.category("views").add("crm_mail_compose_form", {
    ...formView,
    Controller: CrmMailComposeController,
});
