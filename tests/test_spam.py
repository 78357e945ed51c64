"""Spam (#23, items 13 and 16): the server's spam folder fetched into a Spam
view, *Mark as Spam* (the server copy moved into the spam folder, the
sender blacklisted by administrators only), *Not Spam* (moved back, found
again, never stored twice) and *Not a Robot* (a correction of the
classifier for a sender). Rights over RPC as the salesperson."""

from odoo.tests import HttpCase, tagged

from .common import MailServerCase, make_mail
from .test_access_rules import RpcMixin

AUTO_REPLY = {"Auto-Submitted": "auto-replied"}


@tagged("post_install", "-at_install")
class TestSpam(RpcMixin, MailServerCase, HttpCase):
    def setUp(self):
        super().setUp()
        self.make_romashka()

    def fetch(self, account):
        account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)

    def mails(self, account):
        return self.env["crm.mail.message"].search(
            [("account_id", "=", account.id)], order="id"
        )

    def push(self):
        self.env["crm.mail.account"]._cron_push_flags()

    def wizard_apply(self, mail_ids, **values):
        """*Mark as Spam* over RPC: open the dialog, set it, apply it."""
        action, error = self.call("crm.mail.message", "action_mark_spam", mail_ids)
        if error:
            return None, error
        wizard_id = action["res_id"]
        if values:
            _result, error = self.call(
                "crm.mail.spam.wizard", "write", [wizard_id], values
            )
            if error:
                return None, error
        return self.call("crm.mail.spam.wizard", "action_apply", [wizard_id])

    def test_spam_folder_is_fetched_only_when_asked_and_links_nobody(self):
        self.deliver(make_mail(subject="Заказ"))
        self.deliver(
            make_mail(subject="Выигрыш", sender="Lucky <win@lottery.example>"),
            folder="Junk",
        )
        self.deliver(
            make_mail(subject="Счёт", sender="Ivan <ivan@romashka.example>"),
            folder="Junk",
        )
        account = self.make_account()
        self.fetch(account)
        self.assertEqual(self.mails(account).mapped("subject"), ["Заказ"])

        account.fetch_spam = True
        self.fetch(account)
        spam = self.mails(account).filtered(lambda m: m.state == "spam")
        self.assertEqual(sorted(spam.mapped("subject")), ["Выигрыш", "Счёт"])
        self.assertEqual(spam.folder_id.special_use, "\\Junk")
        # linked to nobody, even a known sender; no contact made for the rest
        self.assertFalse(spam.partner_id | spam.contact_id)
        self.assertFalse(
            self.env["res.partner"].search([("email", "=", "win@lottery.example")])
        )
        # the Inbox and its count leave spam out
        self.grant(account, self.user_sales, in_read=True)
        self.login(self.user_sales)
        counts, error = self.call("crm.mail.message", "get_unread_counts")
        self.assertIsNone(error)
        self.assertEqual(counts["inbox"], 1)

    def test_mark_spam_and_back_over_rpc_moves_the_server_copy(self):
        self.deliver(make_mail(subject="Прайс", sender="Ivan <ivan@romashka.example>"))
        account = self.make_account(fetch_spam=True)
        self.grant(account, self.user_sales, in_read=True, in_write=True)
        self.fetch(account)
        mail = self.mails(account)
        self.assertEqual(mail.partner_id, self.romashka)
        inbox = mail.folder_id

        self.login(self.user_sales)
        _result, error = self.wizard_apply(mail.ids)
        self.assertIsNone(error)
        self.assertEqual(mail.state, "spam")
        self.push()
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 0)
        self.assertEqual(self.dovecot.message_count(self.mailbox, "Junk"), 1)
        # the mail follows its server copy (UIDPLUS tells the new UID)
        self.assertEqual(mail.folder_id.special_use, "\\Junk")
        self.assertTrue(mail.imap_uid)
        # fetching the spam folder finds it again: not stored twice
        self.fetch(account)
        self.assertEqual(self.mails(account), mail)

        _result, error = self.call("crm.mail.message", "action_not_spam", mail.ids)
        self.assertIsNone(error)
        self.assertEqual(mail.state, "received")
        self.assertEqual(mail.partner_id, self.romashka)
        self.push()
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 1)
        self.assertEqual(self.dovecot.message_count(self.mailbox, "Junk"), 0)
        self.assertEqual(mail.folder_id, inbox)
        self.fetch(account)
        self.assertEqual(self.mails(account), mail)
        self.assertEqual(mail.state, "received")
        # nothing learnt wrong: the sender is neither blacklisted nor listed
        self.assertFalse(self.env["crm.mail.blacklist"].search([]))

    def test_marking_twice_before_the_push_keeps_the_last_wish(self):
        self.deliver(make_mail(subject="Передумал"))
        account = self.make_account()
        self.fetch(account)
        mail = self.mails(account)
        mail._mark_spam()
        mail.action_not_spam()
        self.assertFalse(self.env["crm.mail.server.action"].search([]))
        self.push()
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 1)
        self.assertEqual(self.dovecot.message_count(self.mailbox, "Junk"), 0)

    def test_a_reader_may_not_mark_spam_nor_a_salesperson_blacklist(self):
        self.deliver(make_mail(subject="Спам?", sender="x@junk.example"))
        account = self.make_account()
        line = self.grant(account, self.user_sales, in_read=True)
        self.fetch(account)
        mail = self.mails(account)
        self.login(self.user_sales)
        _result, error = self.wizard_apply(mail.ids)
        self.assertIn("AccessError", error)
        _result, error = self.call("crm.mail.message", "action_not_robot", mail.ids)
        self.assertIn("AccessError", error)
        self.assertEqual(mail.state, "received")

        line.in_write = True
        _result, error = self.wizard_apply(mail.ids, blacklist=True)
        self.assertIn("AccessError", error)
        self.assertEqual(mail.state, "received")
        self.assertFalse(self.env["crm.mail.blacklist"].search([]))

        self.login(self.user_admin_mail)
        _result, error = self.wizard_apply(mail.ids, blacklist=True)
        self.assertIsNone(error)
        self.assertEqual(mail.state, "spam")
        self.assertEqual(
            self.env["crm.mail.blacklist"].search([]).mapped("pattern"),
            ["x@junk.example"],
        )

    def test_not_a_robot_corrects_the_classifier_for_the_sender(self):
        sender = "Пётр <petr@newclient.example>"
        self.deliver(make_mail(subject="Re: заказ", sender=sender, headers=AUTO_REPLY))
        account = self.make_account()
        self.grant(account, self.user_sales, in_read=True, in_write=True)
        self.fetch(account)
        first = self.mails(account)
        self.assertEqual(first.auto_kind, "auto_reply")
        self.assertFalse(first.contact_id)

        self.login(self.user_sales)
        more = self.call("crm.mail.message", "read", first.ids, ["more_actions"])[0]
        self.assertIn("action_not_robot", [a["name"] for a in more[0]["more_actions"]])
        _result, error = self.call("crm.mail.message", "action_not_robot", first.ids)
        self.assertIsNone(error)
        self.assertFalse(first.auto_kind)
        # the salesperson reads no list of corrections; they are the admins'
        _result, error = self.call("crm.mail.not.robot", "search_read", [], ["address"])
        self.assertIn("AccessError", error)
        self.assertEqual(
            self.env["crm.mail.not.robot"].search([]).mapped("address"),
            ["petr@newclient.example"],
        )

        self.deliver(make_mail(subject="Re: счёт", sender=sender, headers=AUTO_REPLY))
        self.fetch(account)
        second = self.mails(account) - first
        self.assertFalse(second.auto_kind)
        self.assertEqual(second.contact_id.email, "petr@newclient.example")
