from odoo import api, fields, models
from odoo.exceptions import UserError


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
        return "lead" if mails and all(m.lead_id for m in mails) else "partner"

    def _record_of(self, mail):
        if self.target == "lead":
            return mail.lead_id
        return mail.contact_id or mail.partner_id

    @api.depends("message_ids", "target")
    def _compute_record_names(self):
        for wizard in self:
            records = [wizard._record_of(mail) for mail in wizard.message_ids]
            wizard.record_names = ", ".join(
                sorted({r.display_name for r in records if r})
            )

    def action_apply(self):
        self.ensure_one()
        mails = self.message_ids
        mails._check_can_act()
        missing = mails.filtered(lambda m: not self._record_of(m))
        if missing:
            raise UserError(
                self.env._(
                    "These mails have no %(target)s: %(subjects)s",
                    target=dict(
                        self._fields["target"]._description_selection(self.env)
                    )[self.target],
                    subjects=", ".join(missing.mapped(lambda m: m.subject or "?")),
                )
            )
        for mail in mails:
            mail._log_note_on(self._record_of(mail))
        return {"type": "ir.actions.act_window_close"}
