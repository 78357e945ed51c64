from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..models.crm_mail_mass_job import MASS_NOW
from ..models.crm_mail_message_actions import not_yours_message, subjects_text

#: records and subjects a wizard names; the rest are counted
SHOWN_NAMES = 10


class CrmMailLogNoteWizard(models.TransientModel):
    """Copy mails into a lead's or partner's chatter, once the user knows
    that every reader of that record will see them."""

    _name = "crm.mail.log.note.wizard"
    _description = "Log Mail as Note"

    message_ids = fields.Many2many("crm.mail.message", string="Mails")
    target = fields.Selection(
        [("lead", "Lead"), ("partner", "Contact or Company")],
        required=True,
        default=lambda self: self._default_target(),
        help="Where the copy goes: the mail's lead, or its contact (else its company).",
    )
    record_names = fields.Char(compute="_compute_record_names", string="Records")

    @api.model
    def _default_target(self):
        mails = self.env["crm.mail.message"].browse(
            self.env.context.get("default_message_ids") or []
        )
        # a colleague's lead is his: its chatter is not the user's to write
        if mails and all(m.lead_id and m.lead_id.has_access("write") for m in mails):
            return "lead"
        return "partner"

    @api.depends("message_ids", "target")
    def _compute_record_names(self):
        for wizard in self:
            records = {mail._note_record(wizard.target) for mail in wizard.message_ids}
            # names only (as the form shows them), even of a colleague's lead
            names = sorted(r.sudo().display_name for r in records if r)
            shown = ", ".join(names[:SHOWN_NAMES])
            if len(names) > SHOWN_NAMES:
                shown += " " + self.env._("and %s more", len(names) - SHOWN_NAMES)
            wizard.record_names = shown

    def action_apply(self):
        self.ensure_one()
        mails = self.message_ids
        mails._check_can_act()
        missing = mails.filtered(lambda m: not m._note_record(self.target))
        if missing:
            raise UserError(
                self.env._(
                    "These mails have no %(target)s: %(subjects)s",
                    target=dict(
                        self._fields["target"]._description_selection(self.env)
                    )[self.target],
                    subjects=subjects_text(missing, SHOWN_NAMES),
                )
            )
        for mail in mails[:MASS_NOW]:
            record = mail._note_record(self.target)
            if not record.has_access("write"):
                raise AccessError(not_yours_message(self.env, record))
        if len(mails) > MASS_NOW:
            return mails._queue_mass("log_note", self.target)
        for mail in mails:
            mail._log_note_on(mail._note_record(self.target))
        return {"type": "ir.actions.act_window_close"}
