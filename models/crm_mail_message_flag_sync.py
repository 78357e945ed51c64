from odoo import api, models
from odoo.tools import SQL

#: the server action that brings the server's \Seen to a wanted state
SEEN_ACTIONS = {True: "seen", False: "unseen"}


class CrmMailMessage(models.Model):
    """Read marks and answers of the CRM pushed to the server, for accounts
    that sync read marks (``crm.mail.account.sync_flags``).

    Whose marks: the owner's for a personal mailbox; for a shared mailbox a
    mail read by anybody is read on the server, and unread when nobody has
    it read any more. What the server should show is compared with what it
    showed last (``server_seen``): only a difference is queued
    (``crm.mail.server.action``), and done by the push cron right after.
    """

    _inherit = "crm.mail.message"

    @api.model
    def _queue_flag_push(self, message_ids):
        """Queue \\Seen set or removed on the server for those of these mails
        whose wanted read state differs from the server's.

        :param message_ids: ids of mails whose read marks just changed
        """
        if not message_ids:
            return
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """SELECT m.account_id, m.folder_id, m.imap_uidvalidity,
                          m.imap_uid, m.server_seen IS TRUE, EXISTS (
                              SELECT 1 FROM crm_mail_message_seen s
                               WHERE s.message_id = m.id AND s.is_read
                                 AND (a.user_id IS NULL OR s.user_id = a.user_id)
                          ) AS wanted
                     FROM crm_mail_message m
                     JOIN crm_mail_account a ON a.id = m.account_id
                    WHERE m.id = ANY(%s) AND a.sync_flags AND a.protocol = 'imap'
                      AND m.folder_id IS NOT NULL AND m.imap_uid > 0
                      AND m.server_deleted IS NOT TRUE""",
                list(message_ids),
            )
        )
        found = self.env.cr.fetchall()
        if not found:
            return
        # the last wish wins: what is pending for these places goes, and
        # only a difference from what the server shows is queued again
        self.env.cr.execute(
            SQL(
                "DELETE FROM crm_mail_server_action WHERE action IN ('seen', "
                "'unseen') AND (folder_id, imap_uidvalidity, imap_uid) IN %s",
                tuple(
                    (folder, validity, uid) for _a, folder, validity, uid, *_r in found
                ),
            )
        )
        self.env["crm.mail.server.action"].invalidate_model()
        rows = [
            {
                "account_id": account,
                "action": SEEN_ACTIONS[wanted],
                "folder_id": folder,
                "imap_uidvalidity": validity,
                "imap_uid": uid,
            }
            for account, folder, validity, uid, current, wanted in found
            if current != wanted
        ]
        self._queue_server_flags(rows)

    @api.model
    def _queue_server_flags(self, rows):
        """Queue flag actions and wake the push cron."""
        if not rows:
            return
        self.env["crm.mail.server.action"].sudo()._queue(rows)
        self.env.ref("crm_mail_client.ir_cron_push_flags").sudo()._trigger()

    def _queue_answered(self):
        """The server marks these mails answered (a reply was sent)."""
        rows = [
            {
                "account_id": mail.account_id.id,
                "action": "answered",
                "folder_id": mail.folder_id.id,
                "imap_uidvalidity": mail.imap_uidvalidity,
                "imap_uid": mail.imap_uid,
            }
            for mail in self.sudo()
            if mail.account_id.sync_flags
            and mail.account_id.protocol == "imap"
            and mail.folder_id
            and mail.imap_uid
            and not mail.server_deleted
        ]
        self._queue_server_flags(rows)
