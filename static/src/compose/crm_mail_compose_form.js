/** @odoo-module **/
// The composer never throws away what was typed silently: Esc, Discard or
// the close button on a mail with changes asks whether to keep it in Drafts.
import { _t } from "@web/core/l10n/translation";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { registry } from "@web/core/registry";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";
import { onMounted, onWillUnmount } from "@odoo/owl";

export class CrmMailComposeController extends FormController {
    setup() {
        super.setup();
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
        // Discard, with text typed: the same question as Esc
        if (
            clickParams.special === "cancel" &&
            !this.closingConfirmed &&
            (await this.model.root.isDirty())
        ) {
            this.askBeforeClosing();
            return false;
        }
        return super.beforeExecuteActionButton(clickParams);
    }

    async askBeforeClosing() {
        // an editor commits its text lazily: ask the record, not the flag
        if (!(await this.model.root.isDirty())) {
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

    closeComposer() {
        this.closingConfirmed = true;
        this.env.dialogData?.close();
    }
}

registry.category("views").add("crm_mail_compose_form", {
    ...formView,
    Controller: CrmMailComposeController,
});
