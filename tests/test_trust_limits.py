"""Trust, round 2 (issue #18, items 16, 19, 20): Odoo's real limits - cron
time budgets, Settings saved while a job runs, long work out of requests."""

import time
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import config

from odoo.addons.crm_mail_client.models.cron_limits import cron_budget

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestTrustLimits(MailServerCase):
    def fetch_cron(self):
        return self.env.ref("crm_mail_client.ir_cron_fetch_mail")

    # ------------------------------------------------------------
    # 16. a cron pass stays inside the worker's limits
    # ------------------------------------------------------------

    def test_16_budget_follows_the_server_limits(self):
        cases = [
            # (limit_time_real_cron, limit_time_real, limit_time_cpu, workers)
            ((-1, 120, 60, 0), 72),  # threaded: the real-time limit only
            ((-1, 120, 60, 2), 36),  # prefork: CPU 60 s is the smaller
            ((30, 120, 60, 2), 18),  # a cron limit of its own
            ((0, 120, 60, 0), 300),  # no limit at all
        ]
        for (cron, real, cpu, workers), expected in cases:
            options = {
                "limit_time_real_cron": cron,
                "limit_time_real": real,
                "limit_time_cpu": cpu,
                "workers": workers,
            }
            with self.subTest(**options), patch.dict(config.options, options):
                self.assertAlmostEqual(cron_budget(), expected)
                # our jobs share one budget: a pass runs them all (with no
                # limit at all, each has the fixed one)
                shared = expected if cron == 0 else expected / 3
                self.assertAlmostEqual(cron_budget(jobs=3), shared)

    def test_16_a_spent_pass_hands_over_to_the_next(self):
        """Out of time, the job starts no account: it reports its progress
        and triggers its next pass, instead of being killed mid-fetch."""
        for index in range(3):
            self.deliver(make_mail(subject=f"m{index}"))
        accounts = self.make_account() | self.make_account(name="B")
        from odoo.addons.crm_mail_client.models import cron_limits

        cron_limits._JOB_DEADLINES.pop(self.env.cr, None)  # a new job run
        cron, progress = self.fetch_cron().sudo()._add_progress()
        Account = self.env["crm.mail.account"].with_context(
            cron_id=cron.id, ir_cron_progress_id=progress.id
        )
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        Message = self.env["crm.mail.message"]
        domain = [("account_id", "in", accounts.ids)]
        # a 1-second limit: the first batch of the pass spends the budget
        with patch.dict(config.options, {"limit_time_real_cron": 1}):
            Account._cron_fetch_mail()
            time.sleep(1)
            stored = Message.search_count(domain)
            # the next batch Odoo runs on the same cursor starts nothing
            Account._cron_fetch_mail()
        self.assertEqual(Message.search_count(domain), stored)
        new = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers
        self.assertTrue(new, "the next pass is triggered at once")
        self.assertEqual((progress.done, progress.remaining), (0, 0))

    def test_16_batches_of_one_job_share_its_deadline(self):
        """Odoo runs up to 10 batches of a job on one cursor: they share one
        budget, so the whole pass ends within the limit."""
        from odoo.addons.crm_mail_client.models import cron_limits

        env = self.env(context=dict(self.env.context, cron_id=self.fetch_cron().id))
        first = cron_limits.job_deadline(env)
        self.assertEqual(cron_limits.job_deadline(env), first)
        plain = cron_limits.job_deadline(self.env)
        self.assertNotEqual(plain, first, "outside a cron, each call its own")

    # ------------------------------------------------------------
    # 19. Settings are saved while the fetch cron runs
    # ------------------------------------------------------------

    def _lock_crons(self, crons):
        """Hold the cron rows as Odoo does while the job runs."""
        runner = self.registry.cursor()
        self.addCleanup(runner.close)
        runner.execute(
            "SELECT id FROM ir_cron WHERE id IN %s FOR NO KEY UPDATE",
            (tuple(crons.ids),),
        )
        self.env.cr.execute("SET LOCAL lock_timeout = '3s'")
        return runner

    def test_19_unrelated_settings_save_while_the_fetch_runs(self):
        actions_before = self.env["ir.actions.server"].search_count([])
        self._lock_crons(self.fetch_cron())
        settings = self.env["res.config.settings"].create({"crm_mail_max_per_run": 77})
        settings.execute()
        self.assertEqual(
            self.env["ir.config_parameter"].get_param("crm_mail_client.max_per_run"),
            "77",
        )
        self.assertEqual(self.env["ir.actions.server"].search_count([]), actions_before)

    def test_19_changing_the_fetch_schedule_while_it_runs_says_why(self):
        self._lock_crons(self.fetch_cron())
        settings = self.env["res.config.settings"].create({"crm_mail_fetch_jobs": 2})
        with self.assertRaisesRegex(UserError, "running right now"):
            settings.execute()

    def test_19_fewer_jobs_leave_no_orphan_server_action(self):
        Account = self.env["crm.mail.account"]
        Account._set_fetch_jobs(3)
        actions = Account._fetch_crons().ir_actions_server_id
        self.assertEqual(len(actions), 3)
        Account._set_fetch_jobs(1)
        self.assertEqual(len(Account._fetch_crons()), 1)
        self.assertEqual(len(actions.exists()), 1, "the removed jobs' actions went too")

    # ------------------------------------------------------------
    # 20. long work is handed to the cron; relinking does not scale per mail
    # ------------------------------------------------------------

    def test_20_fetch_all_runs_in_the_background(self):
        self.deliver(make_mail(subject="waiting"))
        account = self.make_account()
        cron = self.fetch_cron()
        cron.sudo().active = True
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        action = self.env["crm.mail.account"].action_fetch_all()
        self.assertEqual(action["tag"], "display_notification")
        self.assertFalse(
            self.env["crm.mail.message"].search([("account_id", "=", account.id)]),
            "nothing fetched inside the request",
        )
        new = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers
        self.assertTrue(new, "the fetch cron starts at once")

    def test_20_relink_queries_do_not_grow_with_the_mails(self):
        account = self.make_account()
        Message = self.env["crm.mail.message"].sudo()
        senders = ["anna@vektor.example", "boris@vektor.example"]

        def unlinked(count):
            return Message.create(
                [
                    {
                        "account_id": account.id,
                        "subject": f"m{index}",
                        "email_from": senders[index % 2],
                    }
                    for index in range(count)
                ]
            )

        few, many = unlinked(10), unlinked(300)
        vektor = self.env["res.partner"].create(
            {"name": "Vektor", "is_company": True, "email": "info@vektor.example"}
        )
        for sender in senders:
            self.env["res.partner"].create(
                {"name": sender, "email": sender, "parent_id": vektor.id}
            )
        self.env.flush_all()
        counts = []
        for mails in (few, many):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            changed = mails._relink()
            self.env.flush_all()
            counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(changed, mails)
            self.assertEqual(set(mails.mapped("partner_id")), {vektor})
        self.assertEqual(counts[0], counts[1], "queries per batch, not per mail")

    def test_20_relink_all_is_a_cron_job(self):
        account = self.make_account()
        mail = (
            self.env["crm.mail.message"]
            .sudo()
            .create({"account_id": account.id, "email_from": "late@linked.example"})
        )
        partner = self.env["res.partner"].create(
            {"name": "Late", "email": "late@linked.example"}
        )
        action = self.env["crm.mail.message"].action_relink_all()
        self.assertIn("background", action["params"]["message"])
        self.assertFalse(mail.contact_id, "nothing done inside the request")
        self.env["crm.mail.message"]._cron_relink_unlinked()
        self.assertEqual(mail.contact_id, partner)
        self.assertEqual(
            self.env["ir.config_parameter"].get_param("crm_mail_client.relink_from_id"),
            "-1",
            "done: the next pass does nothing",
        )
