"""The browser tour of the workspace issue, as a sales user, in headless
Chromium: company form → Mail tab → the contact's mail → Reply → Send →
the reply in the conversation (sent to the real SMTP peer)."""

import tempfile
from datetime import datetime, timedelta, timezone

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.crm_mail_client.devtools.smtp_peer import SmtpPeer

from .common import MailServerCase, make_mail
from .test_send import SMTP_LOGIN, SMTP_PASSWORD, SendCase, real_smtp


@tagged("post_install", "-at_install")
class TestReplyTour(MailServerCase, HttpCase):
    def test_reply_from_the_company_mail_tab(self):
        peer = SmtpPeer(
            tempfile.mkdtemp(prefix="crm_mail_smtp_"),
            login=SMTP_LOGIN,
            password=SMTP_PASSWORD,
            certs=self.dovecot.certs,
            save_eml=False,
        )
        peer.start()
        self.addCleanup(peer.stop)
        company = self.env["res.partner"].create(
            {
                "name": "ООО Ромашка",
                "is_company": True,
                "email": "info@romashka.example",
            }
        )
        self.env["res.partner"].create(
            {
                "name": "Иван Петров",
                "email": "ivan@romashka.example",
                "parent_id": company.id,
            }
        )
        account = self.make_account(
            smtp_host=peer.host,
            smtp_port=peer.smtps_port,
            smtp_security="ssl",
            smtp_same_credentials=False,
            smtp_login=SMTP_LOGIN,
            smtp_password=SMTP_PASSWORD,
        )
        self.grant(account, self.user_sales, in_read=True, out_send=True, out_read=True)
        self.deliver(
            make_mail(
                subject="Заказ 15",
                # hostile sender name, body and file name: none may run in
                # the tab, the form, the composer's quote or the thread
                sender='"Иван <img src=x onerror=window.xss=2> Петров" '
                "<ivan@romashka.example>",
                html="<p>Пришлите счёт, пожалуйста.</p><script>window.xss = 1</script>"
                '<svg onload="window.xss = 4"></svg>'
                '<a href="javascript:window.xss=5">счёт</a>',
                attachments=[
                    (
                        '<img src=x onerror="window.xss=3">.pdf',
                        b"%PDF-1.4",
                        "application/pdf",
                    ),
                    (
                        "invoice.html",
                        b"<form action='https://phish.example'>password</form>",
                        "text/html",
                    ),
                ],
            )
        )
        account._fetch_locked()
        with real_smtp():
            self.start_tour(
                f"/odoo/res.partner/{company.id}",
                "crm_mail_client_reply_tour",
                login=self.user_sales.login,
            )
            self.assertFalse(peer.received(), "nothing sent by the request")
            self.env["crm.mail.message"]._cron_send_mail()
        (sent,) = peer.received()
        self.assertEqual(sent["rcpt_tos"], ["ivan@romashka.example"])
        reply = self.env["crm.mail.message"].search(
            [("direction", "=", "outgoing"), ("account_id", "=", account.id)]
        )
        self.assertEqual(reply.subject, "Re: Заказ 15")
        self.assertEqual(reply.author_user_id, self.user_sales)
        self.assertEqual(reply.parent_id.subject, "Заказ 15")
        # the mail was opened: it is read for the sales user, for him only
        self.assertFalse(reply.parent_id.with_user(self.user_sales).is_unread)
        self.assertTrue(reply.parent_id.is_unread)


@tagged("post_install", "-at_install")
class TestAppTour(MailServerCase, HttpCase):
    def test_the_mail_app_opens_on_the_inbox(self):
        account = self.make_account()
        self.grant(account, self.user_sales, in_read=True)
        self.deliver(make_mail(subject="Заказ 7"))
        account._fetch_locked()
        self.start_tour(
            "/odoo", "crm_mail_client_app_tour", login=self.user_sales.login
        )


@tagged("post_install", "-at_install")
class TestComposeTour(MailServerCase, HttpCase):
    def test_escape_in_the_composer_keeps_a_draft(self):
        account = self.make_account(smtp_host="smtp.invalid")
        self.grant(
            account, self.user_sales, in_read=True, out_send=True, out_default=True
        )
        self.start_tour(
            "/odoo/action-crm_mail_client.crm_mail_message_action_inbox",
            "crm_mail_client_compose_esc_tour",
            login=self.user_sales.login,
        )
        draft = self.env["crm.mail.message"].search(
            [("state", "=", "draft"), ("subject", "=", "Черновик предложения")]
        )
        self.assertEqual(draft.author_user_id, self.user_sales)
        self.assertEqual(draft.email_to, "olga@other.example")


@tagged("post_install", "-at_install")
class TestTriageTour(SendCase, HttpCase):
    def test_keyboard_triage_in_russian(self):
        """The acceptance tour of the mail-client issue (#21), as a
        salesperson in Russian: Inbox → keyboard triage in the reading pane
        → a colleague's answer mark → reply, Esc, draft kept."""
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["crm_mail_client"], ["ru_RU"])
        self.user_sales.lang = "ru_RU"
        account = self.make_sender()
        account.access_ids.filtered(
            lambda line: line.user_id == self.user_sales
        ).in_read = True
        colleague = new_test_user(
            self.env,
            login="crm_mail_anna",
            name="Анна Смирнова",
            groups="sales_team.group_sale_salesman",
        )
        self.grant(account, colleague, in_read=True, out_send=True, out_default=True)
        now = datetime.now(timezone.utc)
        for n in range(1, 6):
            self.deliver(
                make_mail(
                    subject=f"Заказ {n}",
                    sender="Иван Петров <ivan@romashka.example>",
                    body=f"Нужно {n * 10} штук к пятнице.",
                    date=now - timedelta(minutes=10 * (6 - n)),
                )
            )
        account._fetch_locked()
        Message = self.env["crm.mail.message"]
        order_3 = Message.search([("subject", "=", "Заказ 3")])
        context = order_3.with_user(colleague).action_reply()["context"]
        self.send(self.composer(user=colleague, **context))
        self.assertEqual(order_3.answered_by_id, colleague)

        self.start_tour(
            "/odoo", "crm_mail_client_triage_tour", login=self.user_sales.login
        )

        inbox = Message.search([("direction", "=", "incoming")], order="date desc")
        self.assertEqual(inbox[0].review_state, "reviewed")
        self.assertEqual(inbox[1:].mapped("review_state"), ["new"] * 4)
        draft = Message.search(
            [("state", "=", "draft"), ("parent_id", "=", order_3.id)]
        )
        self.assertEqual(draft.author_user_id, self.user_sales)
        self.assertEqual(draft.subject, "Re: Заказ 3 — наше предложение")
