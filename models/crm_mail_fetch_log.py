from odoo import fields, models


class CrmMailFetchLog(models.Model):
    """One fetch run of one account: what became of every mail it saw."""

    _name = "crm.mail.fetch.log"
    _description = "Mail Fetch Log"
    _order = "id desc"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    date = fields.Datetime(default=fields.Datetime.now, required=True)
    duration = fields.Float(string="Duration (s)", digits=(16, 2))
    stored = fields.Integer()
    quarantined = fields.Integer()
    skipped_duplicate = fields.Integer(string="Duplicates")
    skipped_self = fields.Integer(string="Sent to Itself")
    skipped_other = fields.Integer(string="Other Skipped")
    more_pending = fields.Boolean(string="More to Fetch")
    error = fields.Text()
    details = fields.Text(help="One line per skipped mail: why it was skipped.")
