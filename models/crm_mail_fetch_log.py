from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

#: days a fetch log is kept (the last failed run of an account is kept anyway)
KEEP_DAYS = 30


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
    refused = fields.Integer(
        string="Refused by the Server",
        help="Messages the server would not give: asked for again in the "
        "next runs, then kept in Quarantine.",
    )
    skipped_other = fields.Integer(string="Other Skipped")
    more_pending = fields.Boolean(string="More to Fetch")
    error = fields.Text()
    details = fields.Text(help="One line per skipped mail: why it was skipped.")

    @api.autovacuum
    def _gc_fetch_logs(self):
        """Forget logs older than :data:`KEEP_DAYS` days, but never an
        account's last failed run (it tells why an account stopped)."""
        limit = fields.Datetime.now() - timedelta(days=KEEP_DAYS)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """DELETE FROM crm_mail_fetch_log log
                    WHERE log.date < %s
                      AND log.id NOT IN (
                          SELECT DISTINCT ON (account_id) id
                            FROM crm_mail_fetch_log
                           WHERE error IS NOT NULL
                        ORDER BY account_id, id DESC)""",
                limit,
            )
        )
        self.invalidate_model()
