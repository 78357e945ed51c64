"""Two-way sync with the server (accounts with "Sync Read Marks with the
Server"): read, unread and answered marks go to the server; what another
mail program reads, deletes or moves away on the server comes back."""

from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from odoo.addons.crm_mail_client.mail_engine.imap_session import ImapSession

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestFlagSync(MailServerCase):
    def setUp(self):
        super().setUp()
        self.owner = new_test_user(
            self.env,
            login=f"crm_mail_sync_owner_{self.mailbox}",
            groups="sales_team.group_sale_salesman",
        )

    def fetch(self, account):
        run = account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)
        return run

    def mails(self, account):
        return self.env["crm.mail.message"].search(
            [("account_id", "=", account.id)], order="imap_uid"
        )

    def server_flags(self, account, uid, folder="INBOX"):
        with ImapSession.open(account._incoming_config()) as session:
            return next(iter(session.fetch(folder, [uid]))).flags

    def desktop(self, account):
        """Another mail program on the same mailbox."""
        return ImapSession.open(account._incoming_config())

    def push(self):
        self.env["crm.mail.account"]._cron_push_flags()

    def test_reads_in_the_crm_reach_the_server_personal_mailbox(self):
        self.deliver(make_mail(subject="Запрос цены"))
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        self.fetch(account)
        mail = self.mails(account)
        self.assertNotIn("\\Seen", self.server_flags(account, mail.imap_uid))
        # someone else reading the owner's mailbox does not mark it read
        mail.action_mark_read()
        self.push()
        self.assertNotIn("\\Seen", self.server_flags(account, mail.imap_uid))
        mail.with_user(self.owner).action_mark_read()
        self.push()
        self.assertIn("\\Seen", self.server_flags(account, mail.imap_uid))
        self.assertTrue(mail.server_seen)
        mail.with_user(self.owner).action_mark_unread()
        self.push()
        self.assertNotIn("\\Seen", self.server_flags(account, mail.imap_uid))
        self.assertFalse(self.env["crm.mail.server.action"].search([]))

    def test_shared_mailbox_is_read_when_anybody_read_it(self):
        self.deliver(make_mail(subject="Shared"))
        account = self.make_account(sync_flags=True)
        anna = new_test_user(
            self.env,
            login="crm_mail_sync_anna",
            groups="sales_team.group_sale_salesman",
        )
        self.grant(account, anna)
        self.grant(account, self.owner)
        self.fetch(account)
        mail = self.mails(account)
        mail.with_user(anna).action_mark_read()
        mail.with_user(self.owner).action_mark_read()
        self.push()
        self.assertIn("\\Seen", self.server_flags(account, mail.imap_uid))
        mail.with_user(anna).action_mark_unread()
        self.push()
        self.assertIn("\\Seen", self.server_flags(account, mail.imap_uid), "owner read")
        mail.with_user(self.owner).action_mark_unread()
        self.push()
        self.assertNotIn("\\Seen", self.server_flags(account, mail.imap_uid))

    def test_read_then_unread_before_the_push_leaves_the_server_unread(self):
        self.deliver(make_mail())
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        self.fetch(account)
        mail = self.mails(account).with_user(self.owner)
        mail.action_mark_read()
        mail.action_mark_unread()
        self.assertFalse(self.env["crm.mail.server.action"].search([]))
        self.push()
        self.assertNotIn("\\Seen", self.server_flags(account, mail.imap_uid))

    def test_a_read_mark_needs_the_right_to_read_the_mail(self):
        self.deliver(make_mail())
        account = self.make_account(sync_flags=True)
        self.fetch(account)
        mail = self.mails(account)
        with self.assertRaises(AccessError):
            self.env["crm.mail.message.seen"].with_user(self.user_sales).create(
                {"message_id": mail.id}
            )

    def test_without_the_option_nothing_is_pushed(self):
        self.deliver(make_mail())
        account = self.make_account(user_id=self.owner.id)
        self.fetch(account)
        mail = self.mails(account)
        mail.with_user(self.owner).action_mark_read()
        self.assertFalse(self.env["crm.mail.server.action"].search([]))
        self.push()
        self.assertNotIn("\\Seen", self.server_flags(account, mail.imap_uid))

    def test_a_reply_marks_the_mail_answered_on_the_server(self):
        self.deliver(make_mail(subject="Question"))
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        self.fetch(account)
        mail = self.mails(account)
        reply = self.env["crm.mail.message"].create(
            {
                "account_id": account.id,
                "direction": "outgoing",
                "state": "sent",
                "parent_id": mail.id,
                "subject": "Re: Question",
                "author_user_id": self.owner.id,
            }
        )
        reply._mark_parent_answered()
        self.push()
        self.assertIn("\\Answered", self.server_flags(account, mail.imap_uid))

    def test_read_and_unread_in_another_program_follow_for_the_owner(self):
        for number in range(3):
            self.deliver(make_mail(subject=f"Письмо {number}"))
        # the first sync only notes what the server shows (switching the
        # option on never marks a mailbox's history read for its owner)
        self.deliver(make_mail(subject="Read before"), seen=True)
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        self.fetch(account)
        mails = self.mails(account).with_user(self.owner)
        self.assertEqual(mails.mapped("is_unread"), [True] * 4)
        self.assertEqual(mails.mapped("server_seen"), [False, False, False, True])
        # read on the phone before the CRM fetched it: read here too
        self.deliver(make_mail(subject="Read on the phone"), seen=True)
        self.fetch(account)
        mails = self.mails(account).with_user(self.owner)
        self.assertFalse(mails[4].is_unread)
        mails = mails[:4]
        with self.desktop(account) as desktop:
            desktop.set_flag("INBOX", [1, 2], "\\Seen")
        self.fetch(account)  # QRESYNC: the changes since the last run
        mails.invalidate_recordset(["is_unread"])
        self.assertEqual(mails.mapped("is_unread"), [False, False, True, True])
        with self.desktop(account) as desktop:
            desktop.set_flag("INBOX", [2], "\\Seen", add=False)
        self.fetch(account)
        mails.invalidate_recordset(["is_unread"])
        self.assertEqual(mails.mapped("is_unread"), [False, True, True, True])
        # the owner only: another reader's marks are his own
        self.grant(account, self.user_sales)
        self.assertTrue(all(mails.with_user(self.user_sales).mapped("is_unread")))

    def test_a_mark_not_yet_pushed_is_not_undone(self):
        self.deliver(make_mail())
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        self.fetch(account)
        mail = self.mails(account).with_user(self.owner)
        mail.action_mark_read()
        # the server still shows it unread: that is no change from there
        with patch.object(type(account), "_apply_imap_actions", lambda *a, **k: None):
            self.fetch(account)
        mail.invalidate_recordset(["is_unread"])
        self.assertFalse(mail.is_unread)

    def test_deleted_and_moved_on_the_server_are_shown_gone(self):
        for number in range(3):
            self.deliver(make_mail(subject=f"Order {number}"))
        self.dovecot.create_folder(self.mailbox, "Archive")
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        self.fetch(account)
        with self.desktop(account) as desktop:
            desktop.delete("INBOX", [1])
            desktop.select("INBOX", readonly=False)
            typ, _data = desktop._imap.uid("MOVE", "2", "Archive")
            self.assertEqual(typ, "OK")
        self.fetch(account)
        mails = self.mails(account)
        self.assertEqual(len(mails), 3, "nothing is deleted in the CRM")
        self.assertEqual(mails.mapped("server_removed"), [True, True, False])
        gone = self.env["crm.mail.message"].search(
            [("account_id", "=", account.id), ("server_removed", "=", True)]
        )
        self.assertEqual(gone, mails[:2])
        # a gone mail's read mark has no server place to go to
        gone.with_user(self.owner).action_mark_read()
        self.assertFalse(self.env["crm.mail.server.action"].search([]))

    def test_servers_without_qresync_compare_every_few_runs(self):
        for number in range(2):
            self.deliver(make_mail(subject=f"Old server {number}"))
        account = self.make_account(user_id=self.owner.id, sync_flags=True)
        with patch.object(ImapSession, "enable_sync", lambda session: None):
            self.fetch(account)
            inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
            self.assertEqual(inbox.sync_countdown, 5)
            with self.desktop(account) as desktop:
                desktop.set_flag("INBOX", [1], "\\Seen")
                desktop.delete("INBOX", [2])
            self.fetch(account)  # not yet: a cheap run
            mails = self.mails(account)
            self.assertFalse(mails[1].server_removed)
            inbox.sync_countdown = 0
            self.fetch(account)
        mails.invalidate_recordset()
        self.assertEqual(mails.mapped("server_removed"), [False, True])
        self.assertFalse(mails[0].with_user(self.owner).is_unread)
