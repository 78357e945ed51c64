"""Review flags: reviewed, postponed (and back when due), on control
(cleared when the answer is fetched); remote images blocked by default."""

from datetime import datetime, timedelta, timezone

from lxml import html as lxml_html

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestReview(MailServerCase):
    def setUp(self):
        super().setUp()
        self.account = self.make_account()
        self.grant(self.account, self.user_sales, in_read=True, out_read=True)

    def fetch_one(self, **kwargs):
        before = self.env["crm.mail.message"].search(
            [("account_id", "=", self.account.id)]
        )
        self.deliver(make_mail(to=self.mailbox, **kwargs))
        self.account._fetch_locked()
        after = self.env["crm.mail.message"].search(
            [("account_id", "=", self.account.id)]
        )
        return after - before

    def outgoing(self, subject="Offer", message_id="<offer-1@crm.test>"):
        return self.env["crm.mail.message"].create(
            {
                "account_id": self.account.id,
                "direction": "outgoing",
                "state": "sent",
                "email_from": self.account.email,
                "email_to": "ivan@client.example",
                "subject": subject,
                "message_id": message_id,
                "dedupe_key": message_id,
                "date": fields.Datetime.now() - timedelta(hours=2),
            }
        )

    def test_transitions_as_a_reader(self):
        mail = self.fetch_one(subject="Вопрос")
        self.assertEqual(mail.review_state, "new")
        as_sales = mail.with_user(self.user_sales)
        as_sales.action_mark_reviewed()
        self.assertEqual(mail.review_state, "reviewed")
        as_sales.action_mark_new()
        self.assertEqual(mail.review_state, "new")
        with self.assertRaises(UserError):
            as_sales.action_put_on_control()
        with self.assertRaises(AccessError):
            mail.with_user(self.user_sales).write({"review_state": "reviewed"})
        stranger = new_test_user(
            self.env,
            login="crm_mail_review_stranger",
            groups="sales_team.group_sale_salesman",
        )
        with self.assertRaises(AccessError):
            mail.with_user(stranger).action_mark_reviewed()

    def test_postponed_mail_comes_back(self):
        mail = self.fetch_one(subject="Позже")
        mail.with_user(self.user_sales).action_mark_read()
        action = mail.with_user(self.user_sales).action_postpone()
        wizard = Form(
            self.env[action["res_model"]]
            .with_user(self.user_sales)
            .with_context(**action["context"])
        )
        self.assertGreater(wizard.until, fields.Datetime.now())
        wizard.preset = "custom"
        wizard.until = fields.Datetime.now() + timedelta(hours=3)
        wizard.save().action_apply()
        self.assertEqual(mail.review_state, "postponed")
        Message = self.env["crm.mail.message"]
        self.assertFalse(Message._cron_postponed_due(), "not due yet")
        self.assertEqual(mail.review_state, "postponed")
        mail.postponed_until = fields.Datetime.now() - timedelta(minutes=1)
        self.assertEqual(Message._cron_postponed_due(), mail)
        self.assertEqual(mail.review_state, "new")
        self.assertFalse(mail.postponed_until)
        mail.invalidate_recordset(["is_unread"])
        self.assertTrue(mail.with_user(self.user_sales).is_unread, "bold again")
        with self.assertRaises(UserError):
            mail._postpone(fields.Datetime.now() - timedelta(days=1))

    def test_on_control_cleared_by_the_answer(self):
        offer = self.outgoing()
        other = self.outgoing("Other", "<other@crm.test>")
        offer.with_user(self.user_sales).action_put_on_control()
        other.action_put_on_control()
        self.assertEqual(offer.review_state, "control")
        self.assertTrue(offer.control_since)
        # an unrelated mail changes nothing
        self.fetch_one(subject="Спам")
        self.assertEqual(offer.review_state, "control")
        answer = self.fetch_one(
            subject="Re: Offer", headers={"In-Reply-To": "<offer-1@crm.test>"}
        )
        self.assertEqual(answer.parent_id, offer)
        self.assertEqual(offer.review_state, "reviewed")
        self.assertFalse(offer.control_since)
        self.assertEqual(other.review_state, "control", "other threads still wait")

    def test_answers_fetched_together_clear_only_their_own_threads(self):
        """An old answer in a thread clears none of its later mails on
        control, also when a newer answer of another thread is stored with
        it, in one batch."""
        offer = self.outgoing()
        other = self.outgoing("Other", "<other@crm.test>")
        (offer | other).action_put_on_control()
        now = datetime.now(timezone.utc)
        mails = [
            (
                make_mail(
                    subject="Re: Offer (old)",
                    headers={"In-Reply-To": "<offer-1@crm.test>"},
                    date=now - timedelta(hours=5),
                ),
                {"pop3_uidl": "old-answer"},
            ),
            (
                make_mail(
                    subject="Re: Other",
                    headers={"In-Reply-To": "<other@crm.test>"},
                    date=now,
                ),
                {"pop3_uidl": "new-answer"},
            ),
        ]
        items = self.env["crm.mail.message"]._ingest_batch(self.account, mails, {})
        self.assertEqual([i.outcome[0] for i in items], ["stored", "stored"])
        self.assertEqual(other.review_state, "reviewed")
        self.assertEqual(offer.review_state, "control", "answered before it was sent")

    def test_an_answer_given_its_parent_only_clears_the_parent(self):
        """A mail given a parent inside a conversation but no thread (an
        administrator's write) clears that parent's control."""
        offer = self.outgoing()
        follow_up = self.outgoing("Follow-up", "<follow-up@crm.test>")
        follow_up.write({"parent_id": offer.id, "thread_root_id": offer.id})
        follow_up.action_put_on_control()
        answer = self.fetch_one(subject="Re: Follow-up")
        answer.write({"parent_id": follow_up.id})
        self.assertEqual(follow_up.review_state, "reviewed")

    def test_answer_arriving_before_the_original_is_fetched(self):
        # the answer is stored first; the offer arrives later (Sent folder)
        answer = self.fetch_one(
            subject="Re: Late", headers={"In-Reply-To": "<late@crm.test>"}
        )
        self.assertFalse(answer.parent_id)
        offer = self.outgoing("Late", "<late@crm.test>")
        offer.action_put_on_control()
        answer.write({"parent_id": offer.id, "thread_root_id": offer.id})
        self.assertEqual(offer.review_state, "reviewed")

    def test_remote_images_blocked_until_asked(self):
        mail = self.fetch_one(
            subject="Рассылка",
            html='<p>Hi</p><img src="https://tracker.example/open.gif?id=7" alt="x">'
            '<p>y<img src="//tracker.example/pixel.png"></p>',
        )
        self.assertIn("tracker.example", mail.body_html, "the original is kept")
        shown = mail.with_user(self.user_sales)
        self.assertEqual(shown.remote_image_count, 2)
        tree = lxml_html.fragment_fromstring(
            str(shown.body_display), create_parent="div"
        )
        self.assertFalse(tree.xpath("//img/@src"))
        self.assertNotIn("tracker.example", str(shown.body_display))
        form = self.env.ref("crm_mail_client.crm_mail_message_view_form").arch
        self.assertIn('name="body_display"', form)
        self.assertNotIn('name="body_html"', form, "the form never shows the raw body")
        shown.action_show_remote_images()
        shown.invalidate_recordset()
        self.assertEqual(shown.remote_image_count, 0)
        self.assertIn("tracker.example/open.gif", str(shown.body_display))
        self.assertFalse(shown.is_unread, "he is reading it")
        # for him only: another reader still gets no tracking pixel
        other = mail.with_user(self.user_admin_mail)
        self.assertEqual(other.remote_image_count, 2)
        self.assertNotIn("tracker.example", str(other.body_display))

    def test_unread_again_keeps_show_images(self):
        """Mark Unread (or a postponed mail coming back) makes the mail bold
        again without forgetting that its reader trusts its images."""
        mail = self.fetch_one(
            subject="Новости", html='<p><img src="https://cdn.example/logo.png"></p>'
        )
        mine = mail.with_user(self.user_sales)
        mine.action_show_remote_images()
        mine.action_mark_unread()
        mine.invalidate_recordset()
        self.assertTrue(mine.is_unread)
        self.assertTrue(mine.show_remote_images, "still trusted")
        self.assertIn(
            mail,
            self.env["crm.mail.message"]
            .with_user(self.user_sales)
            .search([("is_unread", "=", True)]),
        )
        mine.action_mark_read()
        mine.invalidate_recordset()
        self.assertFalse(mine.is_unread)
        mail.write(
            {
                "review_state": "postponed",
                "postponed_until": fields.Datetime.now() - timedelta(minutes=1),
            }
        )
        self.env["crm.mail.message"]._cron_postponed_due()
        mine.invalidate_recordset()
        self.assertTrue(mine.is_unread)
        self.assertTrue(mine.show_remote_images)

    def test_marks_need_the_read_right(self):
        mail = self.fetch_one(subject="Чужое")
        stranger = new_test_user(
            self.env, login="stranger_r", groups="sales_team.group_sale_salesman"
        )
        for method in ("action_mark_read", "action_mark_unread"):
            with self.subTest(method=method), self.assertRaises(AccessError):
                getattr(mail.with_user(stranger), method)()
        self.assertFalse(mail.sudo().seen_ids)

    def test_review_commands_on_many_mails_from_the_list(self):
        """The list's Action menu: Reviewed, New again, Postpone, Read,
        Unread on the chosen mails, with the rights of one mail."""
        mails = self.fetch_one(subject="One") | self.fetch_one(subject="Two")

        def run(xmlid, records, user=None):
            action = self.env.ref(
                f"crm_mail_client.crm_mail_message_action_server_{xmlid}"
            )
            return (
                action.with_user(user or self.user_sales)
                .with_context(
                    active_model="crm.mail.message",
                    active_ids=records.ids,
                    active_id=records[:1].id,
                )
                .run()
            )

        run("reviewed", mails)
        self.assertEqual(set(mails.mapped("review_state")), {"reviewed"})
        run("new_again", mails)
        self.assertEqual(set(mails.mapped("review_state")), {"new"})
        as_sales = mails.with_user(self.user_sales)
        run("read", mails)
        self.assertFalse(any(as_sales.mapped("is_unread")))
        run("unread", mails)
        as_sales.invalidate_recordset(["is_unread"])
        self.assertTrue(all(as_sales.mapped("is_unread")))
        wizard = run("postpone", mails)
        self.assertEqual(wizard["res_model"], "crm.mail.postpone.wizard")
        self.assertEqual(wizard["context"]["default_message_ids"], mails.ids)
        # a user who may not read them changes nothing
        stranger = new_test_user(
            self.env,
            login="crm_mail_review_stranger",
            groups="sales_team.group_sale_salesman",
        )
        with self.assertRaises(AccessError):
            run("reviewed", mails, user=stranger)
        self.assertEqual(set(mails.mapped("review_state")), {"new"})
