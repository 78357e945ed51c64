"""Live arrival (IMAP IDLE): what the watcher watches, its lease, the
fetch it wakes. The watcher processes themselves (two of them, kill -9,
Dovecot restarts) are proven in ``devtools/stress_watch.py``, which needs
committed data."""

import threading

from odoo.tests import new_test_user, tagged

from odoo.addons.crm_mail_client.models.crm_mail_account_fetch import LOCK_CLASS
from odoo.addons.crm_mail_client.models.crm_mail_account_watch import (
    WATCH_LOCK_CLASS,
)

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestLiveArrival(MailServerCase):
    def candidates(self):
        return self.env["crm.mail.account"]._watch_candidates()

    def test_watched_accounts(self):
        account = self.make_account()
        self.assertEqual(self.candidates()[account.id][:2], ("INBOX", ()))
        # the Inbox, once the folders are known, if it is fetched; the other
        # fetched folders too (where the server offers NOTIFY)
        self.deliver(make_mail(subject="Filed"), folder="Archive")
        account._fetch_locked()
        inbox, others, _fingerprint, sync = self.candidates()[account.id]
        self.assertFalse(sync)
        self.assertEqual(inbox, "INBOX")
        self.assertIn("Archive", others)
        self.assertNotIn("Trash", others)
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        inbox.to_fetch = False
        self.assertNotIn(account.id, self.candidates())
        inbox.to_fetch = True
        account.live_arrival = False
        self.assertNotIn(account.id, self.candidates())
        account.live_arrival = True
        account.active = False
        self.assertNotIn(account.id, self.candidates())
        account.active = True
        # failing again and again: the cron's pauses, no watch hammering it
        account.write({"state": "error", "failure_count": 5})
        self.assertNotIn(account.id, self.candidates())
        account.write({"failure_count": 1})
        self.assertIn(account.id, self.candidates())
        pop3 = self.make_account(protocol="pop3", email="other@crm.test")
        self.assertNotIn(pop3.id, self.candidates())

    def test_settings_change_restarts_the_watch(self):
        account = self.make_account()
        before = self.candidates()[account.id]
        account.last_check = "2026-01-01 10:00:00"  # what every fetch writes
        self.assertEqual(self.candidates()[account.id], before)
        account.password = "new-secret"
        self.assertNotEqual(self.candidates()[account.id][2], before[2])

    def test_live_state_shows_the_lease(self):
        account = self.make_account()
        self.assertEqual(account.live_state, "cron")
        watcher = self.registry.cursor()
        self.addCleanup(watcher.close)
        watcher.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (WATCH_LOCK_CLASS, account.id)
        )
        self.assertTrue(watcher.fetchone()[0])
        try:
            account.invalidate_recordset(["live_state"])
            self.assertEqual(account.live_state, "watching")
            # a salesperson reading the account sees it too
            self.grant(account, self.user_sales)
            as_sales = account.with_user(self.user_sales)
            self.assertEqual(as_sales.live_state, "watching")
            # a second watcher cannot lease it
            other = self.registry.cursor()
            self.addCleanup(other.close)
            other.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (WATCH_LOCK_CLASS, account.id)
            )
            self.assertFalse(other.fetchone()[0])
        finally:
            watcher.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (WATCH_LOCK_CLASS, account.id)
            )
        account.invalidate_recordset(["live_state"])
        self.assertEqual(account.live_state, "cron")

    def test_wake_fetches_and_tells_the_readers_only(self):
        account = self.make_account()
        reader = new_test_user(
            self.env,
            login="crm_mail_live_reader",
            groups="sales_team.group_sale_salesman",
        )
        stranger = new_test_user(
            self.env,
            login="crm_mail_live_other",
            groups="sales_team.group_sale_salesman",
        )
        self.grant(account, reader)
        self.deliver(make_mail(subject="Live order"))
        run = account._watch_wake()
        self.assertEqual(run.counts["stored"], 1)
        (notice,) = self.bus_notices(reader)
        mail = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        self.assertTrue(mail.contact_id, "the unknown sender became a contact")
        # the open Mail tabs of its company, contact and lead show it
        payload = notice["payload"]
        self.assertEqual(
            set(payload["partner_ids"]), set((mail.partner_id | mail.contact_id).ids)
        )
        self.assertEqual(payload["lead_ids"], mail.lead_id.ids)
        self.assertEqual(self.bus_notices(stranger), [])

    def test_wake_waits_for_a_fetch_running_elsewhere(self):
        """The cron may have listed the folder before the new mail came: the
        woken fetch waits for it to end and fetches again, never skips."""
        account = self.make_account()
        self.deliver(make_mail(subject="During the cron"))
        cron = self.registry.cursor()
        self.addCleanup(cron.close)
        cron.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, account.id))

        def cron_ends():
            cron.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, account.id))

        timer = threading.Timer(1.5, cron_ends)
        timer.start()
        self.addCleanup(timer.cancel)
        run = account._watch_wake()
        self.assertIsNotNone(run)
        self.assertEqual(run.counts["stored"], 1)
