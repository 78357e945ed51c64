"""Send-only and receive-only accounts (#23: "Use for receiving" / "Use for
sending", as in 1C and Prostoy)."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestAccountUse(MailServerCase):
    def test_a_send_only_account_is_never_fetched(self):
        self.deliver(make_mail(subject="Never fetched"))
        # its incoming server is unreachable: fetching it would be an error
        account = self.make_account(use_for_receiving=False, incoming_port=1)
        Account = self.env["crm.mail.account"]
        Account._cron_fetch_mail()
        self.assertEqual(account.state, "draft")
        self.assertFalse(account.fetch_log_ids)
        self.assertFalse(
            self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        )
        with self.assertRaisesRegex(UserError, "not used for receiving"):
            account.action_fetch_now()
        self.assertNotIn(account.id, Account._watch_candidates())
        # no incoming server is tested, and without an outgoing one there is
        # nothing to test
        with self.assertRaisesRegex(UserError, "outgoing server"):
            account.action_test_connection()
        self.assertEqual(account.state, "draft")
        # receiving again: fetched as usual
        account.write(
            {"use_for_receiving": True, "incoming_port": self.dovecot.imaps_port}
        )
        Account._cron_fetch_mail()
        self.assertEqual(account.state, "ok")

    def test_a_receive_only_account_is_never_in_from(self):
        account = self.make_account(
            user_id=self.user_sales.id,
            smtp_host="127.0.0.1",
            smtp_port=465,
            use_for_sending=False,
        )
        as_sales = self.env["crm.mail.account"].with_user(self.user_sales)
        self.assertNotIn(account, as_sales.search(as_sales._sendable_domain()))
        self.assertFalse(as_sales._default_sender())
        with self.assertRaisesRegex(UserError, "not used for sending"):
            account.with_user(self.user_sales)._check_may_send()
        compose = self.env["crm.mail.compose"].with_user(self.user_sales).new({})
        self.assertNotIn(account, compose.allowed_account_ids)
        account.use_for_sending = True
        self.assertIn(account, as_sales.search(as_sales._sendable_domain()))

    def test_a_fetch_interval_per_account(self):
        """vtiger's per-mailbox interval, on top of the fetch cron (#23.15)."""
        account = self.make_account(fetch_interval=60)
        Account = self.env["crm.mail.account"]
        Account._cron_fetch_mail()
        self.assertEqual(len(account.fetch_log_ids), 1, "never checked: fetched")
        self.deliver(make_mail(subject="Within the hour"))
        Account._cron_fetch_mail()
        self.assertEqual(len(account.fetch_log_ids), 1, "checked a moment ago")
        account.last_check = fields.Datetime.now() - timedelta(minutes=61)
        Account._cron_fetch_mail()
        self.assertEqual(len(account.fetch_log_ids), 2)
        # asked for, it is fetched whatever its interval
        self.deliver(make_mail(subject="Asked for"))
        account.action_fetch_now()
        self.assertEqual(len(account.fetch_log_ids), 3)

    def test_check_mail_on_a_company_tab(self):
        account = self.make_account()
        self.grant(account, self.user_sales)
        company = self.env["res.partner"].create(
            {"name": "Ромашка", "is_company": True}
        )
        action = company.with_user(self.user_sales).action_crm_mail_check()
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn(account.name, action["params"]["message"])
