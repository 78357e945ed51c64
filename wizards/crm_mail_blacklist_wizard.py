from odoo import api, fields, models

from ..mail_engine.addresses import domain_of
from ..mail_engine.patterns import compile_pattern, matches


class CrmMailBlacklistWizard(models.TransientModel):
    """Blacklist the sender (or domain) of a mail; optionally delete what is
    already stored from it."""

    _name = "crm.mail.blacklist.wizard"
    _description = "Blacklist a Sender"

    pattern = fields.Char(required=True)
    account_id = fields.Many2one("crm.mail.account", help="Empty: every account.")
    delete_existing = fields.Boolean(string="Delete Stored Mail From It")
    existing_count = fields.Integer(compute="_compute_existing", string="Stored Mails")

    def _existing(self):
        pattern = compile_pattern(self.pattern)
        domain = [("direction", "=", "incoming")]
        if pattern.kind == "address":
            domain.append(("email_from", "=", pattern.value))
        elif pattern.kind == "domain":
            domain.append(("email_from", "=ilike", f"%{pattern.value}"))
        if self.account_id:
            domain.append(("account_id", "=", self.account_id.id))
        mails = self.env["crm.mail.message"].search(domain)
        return mails.filtered(lambda m: m.email_from and matches(pattern, m.email_from))

    @api.depends("pattern", "account_id")
    def _compute_existing(self):
        for wizard in self:
            try:
                wizard.existing_count = len(wizard._existing()) if wizard.pattern else 0
            except Exception:  # noqa: BLE001 - an invalid pattern is refused on save
                wizard.existing_count = 0

    @api.model
    def _open(self, mail, whole_domain):
        address = mail.email_from or ""
        pattern = f"@{domain_of(address)}" if whole_domain else address
        wizard = self.create({"pattern": pattern})
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Blacklist"),
        }

    def action_apply(self):
        self.ensure_one()
        self.env["crm.mail.blacklist"].create(
            {"pattern": self.pattern, "account_id": self.account_id.id}
        )
        if self.delete_existing:
            self._existing().unlink()
        return {"type": "ir.actions.act_window_close"}
