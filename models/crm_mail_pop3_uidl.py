from odoo import fields, models
from odoo.tools import SQL


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

    def _known(self, account, on_server):
        """The UIDLs of ``on_server`` already processed for ``account``.

        Rows of messages gone from the server are deleted on the way, in one
        statement: the table holds what the server holds, and a run never
        loads more of it than the server's list.

        :param dict on_server: ``{uidl: message number}`` from UIDL
        :return: set of UIDLs
        """
        uidls = list(on_server)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "DELETE FROM crm_mail_pop3_uidl WHERE account_id = %s "
                "AND NOT (uidl = ANY(%s))",
                account.id,
                uidls,
            )
        )
        self.env.cr.execute(
            SQL(
                "SELECT uidl FROM crm_mail_pop3_uidl WHERE account_id = %s "
                "AND uidl = ANY(%s)",
                account.id,
                uidls,
            )
        )
        self.invalidate_model()
        return {row[0] for row in self.env.cr.fetchall()}

    def _processed_before(self, account, uidls, limit, outcomes):
        """Which of ``uidls`` were processed before ``limit`` with one of
        ``outcomes`` (what is safe in the database).

        :return: list of UIDLs
        """
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT uidl FROM crm_mail_pop3_uidl WHERE account_id = %s "
                "AND uidl = ANY(%s) AND date < %s AND outcome = ANY(%s)",
                account.id,
                uidls,
                limit,
                list(outcomes),
            )
        )
        return [row[0] for row in self.env.cr.fetchall()]
