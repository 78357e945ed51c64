from odoo import fields, models


class CrmMailAccount(models.Model):
    """The routing rules of an account (smart button on its form)."""

    _inherit = "crm.mail.account"

    rule_ids = fields.One2many("crm.mail.rule", "account_id", string="Routing Rules")
    rule_count = fields.Integer(compute="_compute_rule_count", string="Rules")

    def _compute_rule_count(self):
        counts = dict(
            self.env["crm.mail.rule"]._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["__count"]
            )
        )
        for account in self:
            account.rule_count = counts.get(account, 0)

    def action_view_rules(self):
        """The account's own rules (global rules run before them)."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_rule_action"
        )
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {"default_account_id": self.id}
        return action
