from datetime import datetime, timedelta

from odoo.tests import tagged

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestReliability(MailServerCase):
    """Failing account alerts: one activity at the 5th failure, cleared on success."""

    def _alerts(self, account):
        return account._failure_alert_activities()

    def _run_cron(self, accounts):
        # pretend the backoff delay has passed: every account is due again
        accounts.write({"last_check": datetime(2000, 1, 1)})
        self.env["crm.mail.account"]._cron_fetch_mail()

    def test_failing_account_alert(self):
        healthy = self.make_account(name="Healthy")
        broken = self.make_account(
            name="Broken",
            email="broken@crm.test",
            password="wrong-password",
            user_id=self.user_sales.id,
        )
        accounts = healthy | broken
        Message = self.env["crm.mail.message"]
        for run in range(1, 8):
            self.deliver(make_mail(subject=f"Order {run}"))
            self._run_cron(accounts)
            self.assertEqual(broken.state, "error")
            self.assertEqual(broken.failure_count, run)
            self.assertTrue(broken.last_error)
            # the healthy account keeps flowing, run after run
            self.assertEqual(healthy.state, "ok")
            self.assertEqual(
                Message.search_count([("account_id", "=", healthy.id)]), run
            )
            alerts = self._alerts(broken)
            if run < 5:
                self.assertFalse(alerts, "no alert before 5 failures in a row")
            else:
                # one activity per person, never a new one on later runs
                self.assertEqual(len(alerts), len(alerts.user_id))
                self.assertIn(self.user_sales, alerts.user_id)
                self.assertIn(self.user_admin_mail, alerts.user_id)
                if run == 5:
                    first_ids = alerts.ids
                else:
                    self.assertEqual(alerts.ids, first_ids)
                self.assertTrue(all(a.res_id == broken.id for a in alerts))
        self.assertFalse(self._alerts(healthy))
        # the owner sees the alert in his activities
        own = (
            self.env["mail.activity"]
            .with_user(self.user_sales)
            .search(
                [("res_model", "=", "crm.mail.account"), ("res_id", "=", broken.id)]
            )
        )
        self.assertTrue(own)
        # fixed: the next run succeeds and the alerts are done
        broken.sudo().password = self.mailbox_password
        self._run_cron(accounts)
        self.assertEqual(broken.state, "ok")
        self.assertEqual(broken.failure_count, 0)
        self.assertFalse(self._alerts(broken))
        self.assertFalse(
            self.env["mail.activity"].search(
                [("res_model", "=", "crm.mail.account"), ("res_id", "=", broken.id)]
            )
        )

    def test_failing_account_backs_off(self):
        """From the 3rd failure in a row the cron skips the account for 15,
        30, 60... minutes, never more than 4 hours; others are not held up."""
        healthy = self.make_account(name="Healthy")
        broken = self.make_account(
            name="Broken", email="broken@crm.test", password="wrong-password"
        )
        for _run in range(3):
            self._run_cron(healthy | broken)
        self.assertEqual(broken.failure_count, 3)
        now = datetime.now()
        for failures, delay in ((3, 15), (4, 30), (5, 60), (8, 240), (30, 240)):
            with self.subTest(failures=failures):
                broken.failure_count = failures
                broken.last_check = now - timedelta(minutes=delay - 1)
                self.assertFalse(broken._is_due())
                broken.last_check = now - timedelta(minutes=delay + 1)
                self.assertTrue(broken._is_due())
        # in the cron: skipped while backing off, tried again when due
        broken.write({"failure_count": 5, "last_check": now - timedelta(minutes=5)})
        healthy.last_check = datetime(2000, 1, 1)
        self.deliver(make_mail(subject="Still flowing"))
        self.env["crm.mail.account"]._cron_fetch_mail()
        self.assertEqual(broken.failure_count, 5, "not tried while backing off")
        self.assertEqual(broken.last_check, now - timedelta(minutes=5))
        self.assertEqual(
            self.env["crm.mail.message"].search_count(
                [("account_id", "=", healthy.id)]
            ),
            1,
        )
        broken.last_check = now - timedelta(minutes=61)
        self.env["crm.mail.account"]._cron_fetch_mail()
        self.assertEqual(broken.failure_count, 6, "tried again once due")

    def test_cron_writes_in_the_language_of_the_account_people(self):
        """The cron has no user language: what it writes for people (errors,
        alerts, lead notes, send failures) is in the owner's language, else
        the company's."""
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["crm_mail_client"], ["ru_RU"])
        self.user_sales.lang = "ru_RU"
        broken = self.make_account(
            name="Broken", password="wrong-password", user_id=self.user_sales.id
        )
        Account = self.env["crm.mail.account"].with_context(lang=None)
        for _run in range(5):
            broken.last_check = datetime(2000, 1, 1)
            Account._cron_fetch_mail()
        self.assertIn("отклонил", broken.last_error)
        # each alert in the language of the one it is for
        alerts = self._alerts(broken)
        by_user = {alert.user_id: alert.summary for alert in alerts}
        self.assertIn("не работает", by_user[self.user_sales])
        self.assertIn("failing", by_user[self.user_admin_mail])
        # a company account without owner: the company's language
        broken.user_id = False
        self.env.company.partner_id.lang = "ru_RU"
        broken.write({"last_check": datetime(2000, 1, 1), "last_error": False})
        Account._cron_fetch_mail()
        self.assertIn("отклонил", broken.last_error)
        # a queued mail that fails: its author's language
        mail = self.env["crm.mail.message"].create(
            {
                "account_id": broken.id,
                "direction": "outgoing",
                "state": "outgoing",
                "email_to": "ivan@client.example",
                "subject": "Offer",
                "author_user_id": self.user_sales.id,
            }
        )
        broken.smtp_host = False
        self.env["crm.mail.message"].with_context(lang=None)._cron_send_mail()
        self.assertEqual(mail.state, "error")
        self.assertIn("SMTP", mail.error)
        self.assertNotIn("has no SMTP server", mail.error)

    def test_no_alert_below_threshold(self):
        broken = self.make_account(name="Broken", password="wrong-password")
        for _run in range(4):
            self._run_cron(broken)
        self.assertEqual(broken.failure_count, 4)
        self.assertFalse(self._alerts(broken))
        broken.sudo().password = self.mailbox_password
        self._run_cron(broken)
        self.assertEqual(broken.failure_count, 0)

    def test_account_form_has_chatter(self):
        arch = self.env["crm.mail.account"].get_views([(False, "form")])["views"][
            "form"
        ]["arch"]
        self.assertIn("chatter", arch)
