"""Actions on big selections of mail (issue #19): a constant number of
queries per batch, the work per mail (leads, contacts, notes) handed to the
cron beyond a threshold and done there with the asking user's rights."""

from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from ..models import crm_mail_mass_job
from ..wizards import crm_mail_log_note_wizard
from .common import MailServerCase
from .test_access_rules import AccessFixture, RpcMixin

ACTIONS = "odoo.addons.crm_mail_client.models.crm_mail_message_actions"


def small_threshold(now=5, batch=4):
    """Hand anything above ``now`` mails to the cron, ``batch`` per batch."""
    return [
        patch(f"{ACTIONS}.MASS_NOW", now),
        patch.object(crm_mail_log_note_wizard, "MASS_NOW", now),
        patch.object(crm_mail_mass_job, "JOB_BATCH", batch),
    ]


class MassMixin:
    def start_patches(self, patches):
        for one in patches:
            one.start()
            self.addCleanup(one.stop)

    def notifications(self, partner):
        """The live notifications sent to ``partner`` (bus rows)."""
        self.env.cr.precommit.run()  # bus rows are written at commit
        return [
            message
            for message in self.env["bus.bus"]
            .sudo()
            .search([("channel", "like", f'"res.partner",{partner.id}]')])
            .mapped("message")
            if "simple_notification" in message
        ]


@tagged("post_install", "-at_install")
class TestMassActions(MassMixin, MailServerCase):
    def setUp(self):
        super().setUp()
        self.make_romashka()
        self.account = self.make_account()
        self.grant(self.account, self.user_sales, in_read=True, in_write=True)
        self.lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_sales.id}
        )

    def mails(self, count, senders=None, **vals):
        senders = senders or [f"s{index}@firm{index}.example" for index in range(count)]
        return (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                [
                    {
                        "account_id": self.account.id,
                        "direction": "incoming",
                        "subject": f"Request {index}",
                        "email_from": senders[index % len(senders)],
                        "from_name": f"Sender {index % len(senders)}",
                        "body_text": "Please send the prices.",
                        **vals,
                    }
                    for index in range(count)
                ]
            )
            .with_user(self.user_sales)
        )

    def queries(self, call):
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        call()
        self.env.flush_all()
        return self.env.cr.sql_log_count - before

    def test_flags_and_links_take_constant_queries(self):
        """Marking, flagging, postponing and linking 300 mails costs the
        queries of 20 (and the ORM's inserts by hundreds)."""
        Link = self.env["crm.mail.link.wizard"].with_user(self.user_sales)
        Postpone = self.env["crm.mail.postpone.wizard"].with_user(self.user_sales)
        tomorrow = "2099-01-01 09:00:00"

        def link(mails, **vals):
            return lambda: (
                Link.with_context(default_message_ids=mails.ids)
                .create(vals)
                .action_apply()
            )

        def postpone(mails):
            return lambda: (
                Postpone.with_context(default_message_ids=mails.ids)
                .create({"until": tomorrow})
                .action_apply()
            )

        steps = {
            "mark read": lambda m: m.action_mark_read,
            "mark unread": lambda m: m.action_mark_unread,
            "reviewed": lambda m: m.action_mark_reviewed,
            "postpone": postpone,
            "link to a contact": lambda m: link(m, contact_id=self.ivan.id),
            "link to a lead": lambda m: link(m, lead_id=self.lead.id),
            "mark new": lambda m: m.action_mark_new,
        }
        warm, few, many = self.mails(3), self.mails(20), self.mails(300)
        for name, step in steps.items():
            step(warm)()  # Odoo's caches (rules, access) as in real use
            counts = [self.queries(step(mails)) for mails in (few, many)]
            # at most the ORM's own batching: it inserts by hundreds
            self.assertLessEqual(
                counts[1], counts[0] + len(many) // 100, f"{name}: {counts}"
            )
        self.assertEqual(set(many.mapped("contact_id")), {self.ivan})
        self.assertEqual(set(many.mapped("lead_id")), {self.lead})

    def test_one_lead_note_for_a_selection(self):
        """Linking 30 mails to a lead writes one note there, not 30."""
        mails = self.mails(30)
        notes = self.lead.message_ids
        wizard = (
            self.env["crm.mail.link.wizard"]
            .with_user(self.user_sales)
            .with_context(default_message_ids=mails.ids)
            .create({"lead_id": self.lead.id})
        )
        wizard.action_apply()
        new = self.lead.message_ids - notes
        self.assertEqual(len(new), 1)
        self.assertIn("Mails that joined this lead (30):", new.body)
        self.assertEqual(new.body.count("/odoo/crm.mail.message/"), 10)
        self.assertIn("and 20 more", new.body)
        # one mail: the note names it, as before
        single = self.mails(1)
        single.sudo().lead_id = self.lead
        last = self.lead.message_ids[0]
        self.assertIn("Mail from Sender 0", last.body)
        self.assertIn(f"/odoo/crm.mail.message/{single.id}", last.body)

    def test_leads_made_in_the_background(self):
        self.start_patches(small_threshold(now=5, batch=4))
        senders = ["ivan@romashka.example", "oleg@trest.example", "anna@vektor.example"]
        mails = self.mails(12, senders=senders)
        for mail in mails:
            self.env["ir.attachment"].create(
                {
                    "name": f"offer-{mail.id}.pdf",
                    "raw": b"%PDF",
                    "res_model": "crm.mail.message",
                    "res_id": mail.id,
                }
            )
        Lead = self.env["crm.lead"]
        before = Lead.search([])
        action = mails.action_create_lead()
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("background", action["params"]["message"])
        self.assertEqual(Lead.search([]), before, "nothing made inside the request")
        job = self.env["crm.mail.mass.job"].search([], limit=1)
        self.assertEqual(
            (job.user_id, job.total, job.state), (self.user_sales, 12, "queued")
        )

        self.env["crm.mail.mass.job"]._cron_run()
        leads = Lead.search([]) - before
        self.assertEqual(len(leads), 3, "one lead per sender, across batches")
        for lead in leads:
            linked = mails.filtered(lambda m, lead=lead: m.lead_id == lead)
            self.assertEqual(len(linked), 4)
            self.assertEqual(len(set(linked.mapped("email_from"))), 1)
            self.assertEqual(
                len(
                    self.env["ir.attachment"].search(
                        [("res_model", "=", "crm.lead"), ("res_id", "=", lead.id)]
                    )
                ),
                4,
            )
            self.assertEqual(lead.create_uid, self.user_sales, "made as the user")
        self.assertEqual((job.state, job.done, job.result_count), ("done", 12, 3))
        self.assertTrue(
            any(
                "Done" in note
                for note in self.notifications(self.user_sales.partner_id)
            )
        )

    def test_job_keeps_the_users_rights(self):
        """A user who lost the right to read the mails meanwhile: the job
        stops, says why, keeps what is left, and goes on once retried."""
        self.start_patches(small_threshold(now=5, batch=4))
        mails = self.mails(8)
        mails.action_create_contact()
        job = self.env["crm.mail.mass.job"].search([], limit=1)
        access = (
            self.env["crm.mail.account.access"]
            .sudo()
            .search([("user_id", "=", self.user_sales.id)])
        )
        access.in_read = False
        with self.assertLogs(crm_mail_mass_job.__name__, "WARNING"):
            self.env["crm.mail.mass.job"]._cron_run()
        self.assertEqual(job.state, "failed")
        self.assertEqual(job.done, 0)
        self.assertEqual(sum(len(group) for group in job.pending), 8, "nothing lost")
        self.assertTrue(job.error)
        self.assertFalse(mails.sudo().filtered("contact_id"))
        self.assertTrue(
            any(
                "Not finished" in n
                for n in self.notifications(self.user_sales.partner_id)
            )
        )

        access.in_read = True
        job.with_user(self.user_sales).action_retry()
        self.env["crm.mail.mass.job"]._cron_run()
        self.assertEqual((job.state, job.done, job.result_count), ("done", 8, 8))
        self.assertEqual(len(mails.sudo().mapped("contact_id")), 8)

    def test_contacts_linked_meanwhile_are_left(self):
        self.start_patches(small_threshold(now=5, batch=4))
        mails = self.mails(6)
        mails.action_create_contact()
        first = mails[0].sudo()
        first.write({"contact_id": self.ivan.id, "partner_id": self.romashka.id})
        self.env["crm.mail.mass.job"]._cron_run()
        job = self.env["crm.mail.mass.job"].search([], limit=1)
        self.assertEqual((job.state, job.result_count, job.skipped), ("done", 5, 1))
        self.assertEqual(first.contact_id, self.ivan, "kept as linked meanwhile")
        self.assertTrue(
            any(
                "Left as they were" in n
                for n in self.notifications(self.user_sales.partner_id)
            )
        )

    def test_notes_logged_in_the_background(self):
        self.start_patches(small_threshold(now=5, batch=4))
        mails = self.mails(7, contact_id=self.ivan.id, partner_id=self.romashka.id)
        notes = self.ivan.message_ids
        wizard = (
            self.env["crm.mail.log.note.wizard"]
            .with_user(self.user_sales)
            .with_context(default_message_ids=mails.ids)
            .create({"target": "partner"})
        )
        action = wizard.action_apply()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(self.ivan.message_ids, notes)
        self.env["crm.mail.mass.job"]._cron_run()
        self.assertEqual(len(self.ivan.message_ids - notes), 7)

        # a mail without the record: refused in the request, nothing queued
        orphans = self.mails(7)
        wizard = (
            self.env["crm.mail.log.note.wizard"]
            .with_user(self.user_sales)
            .with_context(default_message_ids=orphans.ids)
            .create({"target": "lead"})
        )
        jobs = self.env["crm.mail.mass.job"].search_count([])
        with self.assertRaises(UserError):
            wizard.action_apply()
        self.assertEqual(self.env["crm.mail.mass.job"].search_count([]), jobs)

    def test_wizard_names_a_few_records(self):
        mails = self.mails(30)
        partners = self.env["res.partner"].create(
            [{"name": f"P{index:02d}"} for index in range(30)]
        )
        for mail, partner in zip(mails.sudo(), partners, strict=True):
            mail.contact_id = partner
        wizard = (
            self.env["crm.mail.log.note.wizard"]
            .with_user(self.user_sales)
            .with_context(default_message_ids=mails.ids)
            .create({"target": "partner"})
        )
        self.assertTrue(wizard.record_names.startswith("P00, P01"))
        self.assertTrue(wizard.record_names.endswith("and 20 more"))


@tagged("post_install", "-at_install")
class TestMassActionRights(MassMixin, RpcMixin, AccessFixture, HttpCase):
    """Over RPC as the low-rights users: queueing needs the read right, a
    job is seen only by its user, and nobody writes one."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()
        cls.many = (
            cls.env["crm.mail.message"]
            .sudo()
            .create(
                [
                    {
                        "account_id": cls.x.id,
                        "direction": "incoming",
                        "subject": f"m{index}",
                        "email_from": f"s{index % 2}@firm.example",
                    }
                    for index in range(8)
                ]
            )
        )

    def test_rights(self):
        self.start_patches(small_threshold(now=5, batch=4))
        self.login(self.user_d)  # may send from X, not read it
        self.assert_denied("crm.mail.message", "action_create_lead", self.many.ids)
        self.assertFalse(self.env["crm.mail.mass.job"].sudo().search([]))

        self.login(self.user_a)
        result = self.assert_allowed(
            "crm.mail.message", "action_create_lead", self.many.ids
        )
        self.assertEqual(result["tag"], "display_notification")
        job = self.env["crm.mail.mass.job"].sudo().search([])
        self.assertEqual(job.user_id, self.user_a)
        rows = self.assert_allowed("crm.mail.mass.job", "search_read", [], ["user_id"])
        self.assertEqual([row["id"] for row in rows], job.ids)
        self.assert_denied(
            "crm.mail.mass.job",
            "write",
            job.ids,
            {"user_id": self.env.ref("base.user_admin").id},
        )
        self.assert_denied(
            "crm.mail.mass.job", "create", {"name": "x", "action": "log_note"}
        )

        self.login(self.user_b)
        rows = self.assert_allowed("crm.mail.mass.job", "search_read", [], ["id"])
        self.assertEqual(rows, [])
        self.env["crm.mail.mass.job"]._cron_run()
        self.assertEqual(job.state, "done")
        self.assertEqual(len(self.many.lead_id), 2)
        self.assertEqual(set(self.many.lead_id.mapped("create_uid")), {self.user_a})
