from odoo import fields, models


class CrmMailPop3Uidl(models.Model):
    """POP3 checkpoint: the UIDLs of an account's messages already processed.

    Written in the same transaction as the mail it produced (or the reason it
    was skipped), so a crash never processes a message twice.
    """

    _name = "crm.mail.pop3.uidl"
    _description = "POP3 Seen Message"
    _log_access = False

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    uidl = fields.Char(required=True)
    date = fields.Datetime(default=fields.Datetime.now, required=True)
    outcome = fields.Char()

    _sql_constraints = [
        ("uniq", "UNIQUE(account_id, uidl)", "A POP3 message is processed once.")
    ]
