"""Sending, replying, forwarding, drafts and mass mail against a real SMTP
server (aiosmtpd on loopback, SMTPS and STARTTLS with AUTH) and Dovecot."""

import email
import email.policy
import shutil
import socket
import tempfile
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from lxml import etree
from markupsafe import Markup

import odoo
from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.crm_mail_client.devtools.dovecot import Dovecot
from odoo.addons.crm_mail_client.devtools.smtp_peer import SmtpPeer
from odoo.addons.crm_mail_client.mail_engine.imap_session import ImapSession

from .common import MailServerCase, make_mail

SMTP_LOGIN, SMTP_PASSWORD = "smtp-sender@crm.test", "smtp-secret-1"


@contextmanager
def real_smtp():
    """Let ir.mail_server.send_email talk to the server during a test
    (Odoo skips the SMTP dialogue while ``current_test`` is set)."""
    with patch.object(odoo.modules.module, "current_test", False):
        yield


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


class SendCase(MailServerCase):
    """An SMTP peer (shares Dovecot's CA) and the Romashka contacts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.peer = SmtpPeer(
            tempfile.mkdtemp(prefix="crm_mail_smtp_"),
            login=SMTP_LOGIN,
            password=SMTP_PASSWORD,
            refuse_rcpt=["nobody@client.example"],
            certs=cls.dovecot.certs,
            save_eml=False,
        )
        cls.peer.start()
        cls.addClassCleanup(cls.peer.stop)
        cls.compose_view = cls.make_compose_test_view()
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "ООО Ромашка",
                "is_company": True,
                "email": "info@romashka.example",
            }
        )
        cls.contact = cls.env["res.partner"].create(
            {
                "name": "Иван Петров",
                "email": "ivan@romashka.example",
                "parent_id": cls.customer.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.peer.clear()

    def make_sender(self, security="ssl", default=True, **values):
        port = self.peer.smtps_port if security == "ssl" else self.peer.starttls_port
        vals = {
            "smtp_host": self.peer.host,
            "smtp_port": port,
            "smtp_security": security,
            "smtp_same_credentials": False,
            "smtp_login": SMTP_LOGIN,
            "smtp_password": SMTP_PASSWORD,
            "sender_name": "Отдел продаж",
            "signature": "<p>Anna Smirnova, sales</p>",
            **values,
        }
        account = self.make_account(**vals)
        self.grant(account, self.user_sales, out_send=True, out_default=default)
        return account

    def composer(self, user=None, **context):
        """The composer's form; its contacts (``partner_ids``) are shown,
        as the browser's recipient field links them (a test form cannot
        run that widget: it writes the contact and his address)."""
        Compose = self.env["crm.mail.compose"].with_user(user or self.user_sales)
        return Form(Compose.with_context(**context), view=self.compose_view)

    @classmethod
    def make_compose_test_view(cls):
        view = cls.env.ref("crm_mail_client.crm_mail_compose_view_form")
        tree = etree.fromstring(view.arch)
        for node in tree.xpath("//field[@name='partner_ids']"):
            node.set("invisible", "0")
        return cls.env["ir.ui.view"].create(
            {
                "name": "crm.mail.compose.form (test: contacts shown)",
                "model": "crm.mail.compose",
                "type": "form",
                "arch": etree.tostring(tree, encoding="unicode"),
            }
        )

    def send(self, form):
        """Send from the composer: it queues the mail, the cron sends it."""
        wizard = form.save()
        with real_smtp():
            action = wizard.action_send()
            self.env["crm.mail.message"]._cron_send_mail()
        return action

    def sent_mails(self, account):
        return self.env["crm.mail.message"].search(
            [("account_id", "=", account.id), ("direction", "=", "outgoing")]
        )


@tagged("post_install", "-at_install")
class TestSend(SendCase):
    def test_autosave_keeps_one_draft_and_discard_removes_it(self):
        self.make_sender()
        Message = self.env["crm.mail.message"]
        form = self.composer()
        wizard = form.save()
        self.assertFalse(wizard.action_autosave(), "nothing written yet")
        form.email_to = "olga@other.example"
        form.subject = "Автосохранение"
        wizard = form.save()
        draft = Message.browse(wizard.action_autosave())
        self.assertEqual((draft.state, draft.subject), ("draft", "Автосохранение"))
        self.assertEqual(draft.author_user_id, self.user_sales)
        self.assertEqual(wizard.draft_id, draft)
        wizard.subject = "Автосохранение 2"
        self.assertEqual(wizard.action_autosave(), draft.id, "the same draft")
        self.assertEqual(draft.subject, "Автосохранение 2")
        with real_smtp():
            wizard.action_send()
            Message._cron_send_mail()
        self.assertEqual(draft.state, "sent", "the draft itself was sent")
        self.assertEqual(
            Message.search_count([("subject", "like", "Автосохранение")]), 1
        )
        # discarded: the draft kept on its own goes with it
        form = self.composer()
        form.email_to = "olga@other.example"
        form.subject = "На выброс"
        wizard = form.save()
        gone = Message.browse(wizard.action_autosave())
        wizard.action_discard_autosave()
        self.assertFalse(gone.exists())
        # a draft saved by the user and reopened stays as he left it when
        # the changes are discarded: autosave does not write into it
        form = self.composer()
        form.email_to = "olga@other.example"
        form.subject = "Оставить"
        form.save().action_save_draft()
        kept = Message.search([("subject", "=", "Оставить")])
        form = self.composer(
            **kept.with_user(self.user_sales).action_edit_draft()["context"]
        )
        form.subject = "Оставить, но иначе"
        wizard = form.save()
        self.assertFalse(wizard.action_autosave())
        wizard.action_discard_autosave()
        self.assertEqual(kept.subject, "Оставить")
        # a mail sent from another window is never pulled back to Drafts
        form = self.composer()
        form.email_to = "olga@other.example"
        form.subject = "Два окна"
        first, second = form.save(), form.save()
        draft = Message.browse(first.action_autosave())
        second.draft_id = draft
        second.autosaved = True
        first.action_send()
        self.assertEqual(draft.state, "outgoing")
        self.assertFalse(second.action_autosave())
        with self.assertRaises(UserError):
            second.action_save_draft()
        self.assertEqual(draft.state, "outgoing")

    def test_removing_a_recipient_takes_his_address_out(self):
        account = self.make_sender()
        account.access_ids.filtered(
            lambda line: line.user_id == self.user_sales
        ).sudo().in_read = True
        form = self.composer()
        form.partner_ids.add(self.contact)
        form.email_to += ", olga@other.example"
        self.assertIn("ivan@romashka.example", form.email_to)
        form.partner_ids.remove(self.contact.id)
        self.assertEqual(form.email_to, "olga@other.example", "what was typed stays")
        # a reply: the sender is a chip and in To; removing the chip removes him
        incoming = self.env["crm.mail.message"].create(
            {
                "account_id": account.id,
                "direction": "incoming",
                "subject": "Заказ",
                "email_from": "ivan@romashka.example",
                "from_name": "Иван Петров",
                "contact_id": self.contact.id,
                "partner_id": self.customer.id,
            }
        )
        context = incoming.with_user(self.user_sales).action_reply()["context"]
        form = self.composer(**context)
        self.assertEqual(form.partner_ids[:], self.contact)
        self.assertIn("ivan@romashka.example", form.email_to)
        form.partner_ids.remove(self.contact.id)
        self.assertFalse(form.email_to)

    def test_send_over_ssl_and_starttls(self):
        for security in ("ssl", "starttls"):
            with self.subTest(security=security):
                self.peer.clear()
                account = self.make_sender(security, default=security == "ssl")
                form = self.composer()
                form.account_id = account
                form.partner_ids.add(self.contact)
                self.assertIn("ivan@romashka.example", form.email_to)
                form.email_to += ", Olga <olga@other.example>"
                form.show_details = True  # the Cc, Bcc, Template link
                form.email_cc = "boss@romashka.example"
                form.email_bcc = "archive@crm.test"
                form.subject = "Коммерческое предложение"
                form.body = Markup("<p>Добрый день!</p>") + (form.body or "")
                attachment = (
                    self.env["ir.attachment"]
                    .with_user(self.user_sales)
                    .create(
                        {
                            "name": "price.pdf",
                            "raw": b"%PDF-1.4 price",
                            "mimetype": "application/pdf",
                        }
                    )
                )
                form.attachment_ids.add(attachment)
                action = self.send(form)
                self.assertEqual(action["tag"], "display_notification")
                mail = self.sent_mails(account)
                self.assertEqual(len(mail), 1)
                self.assertEqual(mail.state, "sent")
                self.assertEqual(mail.contact_id, self.contact)
                self.assertEqual(mail.partner_id, self.customer)
                self.assertEqual(mail.author_user_id, self.user_sales)
                self.assertEqual(mail.attachment_ids.name, "price.pdf")

                (received,) = self.peer.received()
                self.assertEqual(received["mail_from"], account.email)
                self.assertEqual(
                    sorted(received["rcpt_tos"]),
                    sorted(
                        [
                            "ivan@romashka.example",
                            "olga@other.example",
                            "boss@romashka.example",
                            "archive@crm.test",
                        ]
                    ),
                )
                msg = parse(received["data"])
                self.assertEqual(msg["Message-ID"], mail.message_id)
                self.assertIn(account.email, msg["From"])
                self.assertEqual(msg["From"].addresses[0].display_name, "Отдел продаж")
                self.assertEqual(
                    {a.addr_spec for a in msg["To"].addresses},
                    {"ivan@romashka.example", "olga@other.example"},
                )
                self.assertEqual(msg["Cc"], "boss@romashka.example")
                self.assertIsNone(msg["Bcc"], "Bcc never travels in the headers")
                self.assertEqual(msg["Subject"], "Коммерческое предложение")
                self.assertIsNone(msg["In-Reply-To"])
                plain = msg.get_body(("plain",)).get_content()
                html = msg.get_body(("html",)).get_content()
                self.assertIn("Добрый день!", plain)
                self.assertIn("<p>Добрый день!</p>", html)
                self.assertIn("Anna Smirnova", html, "the account's signature")
                (att,) = list(msg.iter_attachments())
                self.assertEqual(att.get_filename(), "price.pdf")
                self.assertEqual(att.get_content(), b"%PDF-1.4 price")

    def test_reply_threads_both_ways(self):
        account = self.make_sender()
        original_id = "<order-1@romashka.example>"
        self.deliver(
            make_mail(
                subject="Заказ 15",
                sender="Иван Петров <ivan@romashka.example>",
                to=f"{self.mailbox}, olga@other.example",
                body="Пришлите счёт",
                html='<p>Пришлите счёт<img src="https://track.example/p.gif"></p>',
                message_id=original_id,
                headers={"Cc": "boss@romashka.example", "References": "<root@x>"},
            )
        )
        account._fetch_locked()
        original = self.env["crm.mail.message"].search(
            [("message_id", "=", original_id)]
        )
        self.assertEqual(original.contact_id, self.contact)

        action = original.with_user(self.user_sales).action_reply()
        form = self.composer(**action["context"])
        self.assertEqual(form.email_to, "Иван Петров <ivan@romashka.example>")
        self.assertFalse(form.email_cc)
        self.assertFalse(form.show_details, "Cc, Bcc, Template behind one link")
        self.assertEqual(form.subject, "Re: Заказ 15")
        self.assertIn("Пришлите счёт", form.body)
        self.assertIn("<blockquote", form.body)
        self.assertNotIn("track.example", form.body, "no remote image in the quote")
        self.assertIn("Anna Smirnova", form.body)
        self.send(form)
        reply = self.sent_mails(account)
        self.assertEqual(reply.parent_id, original)
        self.assertEqual(reply.thread_root_id, original)
        msg = parse(self.peer.received()[0]["data"])
        self.assertEqual(msg["In-Reply-To"], original_id)
        self.assertEqual(msg["References"].split(), ["<root@x>", original_id])
        self.assertEqual(msg["Subject"], "Re: Заказ 15")

        # the customer answers our reply: it lands in the same thread
        self.deliver(
            make_mail(
                subject="Re: Re: Заказ 15",
                sender="ivan@romashka.example",
                to=self.mailbox,
                headers={"In-Reply-To": reply.message_id},
            )
        )
        account._fetch_locked()
        answer = self.env["crm.mail.message"].search(
            [("in_reply_to", "=", reply.message_id)]
        )
        self.assertEqual(answer.parent_id, reply)
        self.assertEqual(answer.thread_root_id, original)
        self.assertEqual(original.thread_count, 3)

        # reply all: the other recipients and Cc, never ourselves
        action = original.with_user(self.user_sales).action_reply_all()
        form = self.composer(**action["context"])
        self.assertEqual(
            form.email_to, "Иван Петров <ivan@romashka.example>, olga@other.example"
        )
        self.assertEqual(form.email_cc, "boss@romashka.example")
        self.assertTrue(form.show_details, "copies are shown, not behind the link")

    def test_forward_keeps_attachments(self):
        account = self.make_sender()
        self.deliver(
            make_mail(
                subject="Fwd: Договор",
                sender="ivan@romashka.example",
                to=self.mailbox,
                attachments=[("dogovor.pdf", b"%PDF contract", "application/pdf")],
            )
        )
        account._fetch_locked()
        original = self.env["crm.mail.message"].search(
            [("account_id", "=", account.id)]
        )
        action = original.with_user(self.user_sales).action_forward()
        form = self.composer(**action["context"])
        self.assertEqual(form.subject, "Fwd: Договор", "not doubled")
        self.assertFalse(form.email_to)
        self.assertEqual(form.attachment_ids[0].name, "dogovor.pdf")
        form.email_to = "lawyer@other.example"
        self.send(form)
        forward = self.sent_mails(account)
        self.assertFalse(forward.parent_id, "a forward starts its own conversation")
        self.assertEqual(forward.attachment_ids.mapped("name"), ["dogovor.pdf"])
        self.assertEqual(original.attachment_ids.mapped("name"), ["dogovor.pdf"])
        msg = parse(self.peer.received()[0]["data"])
        (att,) = list(msg.iter_attachments())
        self.assertEqual(att.get_content(), b"%PDF contract")

        with self.assertRaises(UserError):
            (original | forward).action_reply()

    def test_sent_copy_appended_to_sent_folder(self):
        account = self.make_sender(upload_sent=True)
        self.dovecot.create_folder(self.mailbox, "Sent")
        form = self.composer()
        form.email_to = "ivan@romashka.example"
        form.show_details = True  # the Cc, Bcc, Template link
        form.email_bcc = "archive@crm.test"
        form.subject = "Копия в Отправленных"
        self.send(form)
        mail = self.sent_mails(account)
        self.assertEqual(mail.state, "sent")
        self.assertFalse(mail.error)
        with ImapSession.open(account._incoming_config()) as session:
            _validity, uids = session.search_uids("Sent")
            copies = [parse(m.raw) for m in session.fetch("Sent", uids)]
        self.assertEqual(len(copies), 1)
        self.assertEqual(copies[0]["Message-ID"], mail.message_id)
        self.assertEqual(copies[0]["Bcc"], "archive@crm.test", "our copy keeps Bcc")
        # fetching the Sent folder later does not store the mail twice
        account._fetch_locked()
        self.assertEqual(len(self.sent_mails(account)), 1)

    def test_sent_copy_goes_to_the_special_use_folder(self):
        """A server whose Sent folder has another name (Outlook's "Sent
        Items"): the copy goes where the \\Sent flag says, not to "Sent"."""
        workdir = tempfile.mkdtemp(prefix="crm_mail_dovecot_")
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        private = Dovecot(workdir, special_folders={"Sent": "Sent Items"})
        private.start()
        self.addCleanup(private.stop)
        private.add_user(self.mailbox, self.mailbox_password)
        account = self.make_sender(
            upload_sent=True,
            incoming_port=private.imaps_port,
            # its IMAP CA and the SMTP peer's: a bundle of both
            ca_certificate=private.ca_pem + self.dovecot.ca_pem,
        )
        form = self.composer()
        form.email_to = "ivan@romashka.example"
        form.subject = "Sent Items"
        self.send(form)
        mail = self.sent_mails(account)
        self.assertEqual((mail.state, mail.error), ("sent", False))
        with ImapSession.open(account._incoming_config()) as session:
            names = {folder.name for folder in session.list_folders()}
            _validity, uids = session.search_uids("Sent Items")
            (copy,) = session.fetch("Sent Items", uids)
        self.assertNotIn("Sent", names)
        self.assertEqual(parse(copy.raw)["Message-ID"], mail.message_id)

    def test_failures_keep_the_mail_and_retry(self):
        account = self.make_sender(smtp_password="wrong-password")
        form = self.composer()
        form.email_to = "ivan@romashka.example"
        form.subject = "Счёт"
        form.body = "<p>Счёт во вложении</p>"
        self.send(form)
        mail = self.sent_mails(account)
        self.assertEqual(mail.state, "error")
        self.assertIn("refused the login", mail.error)
        self.assertIn("Счёт во вложении", mail.body_html, "nothing typed is lost")
        self.assertFalse(self.peer.received())

        account.sudo().smtp_password = SMTP_PASSWORD
        with real_smtp():
            mail.with_user(self.user_sales).action_retry()
            self.assertEqual(mail.state, "outgoing", "queued again")
            self.env["crm.mail.message"]._cron_send_mail()
        self.assertEqual(mail.state, "sent")
        self.assertFalse(mail.error)
        self.assertEqual(len(self.peer.received()), 1)

        # a refused recipient
        form = self.composer()
        form.email_to = "nobody@client.example"
        form.subject = "Kto tam"
        self.send(form)
        refused = self.sent_mails(account) - mail
        self.assertEqual(refused.state, "error")
        self.assertIn("nobody@client.example", refused.error)

    def test_timeout_is_an_error(self):
        with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
            account = self.make_sender(timeout=1)
            account.sudo().write(
                {"smtp_port": silent.getsockname()[1], "smtp_security": "ssl"}
            )
            form = self.composer()
            form.email_to = "ivan@romashka.example"
            form.subject = "Timeout"
            self.send(form)
            mail = self.sent_mails(account)
            # a server that does not answer may answer later: tried again
            self.assertEqual((mail.state, mail.send_attempts), ("outgoing", 1))
            self.assertIn("No answer", mail.error)
            for attempt in range(2, 6):
                mail.sudo().next_try = fields.Datetime.now() - timedelta(seconds=1)
                with real_smtp():
                    self.env["crm.mail.message"]._cron_send_mail()
                self.assertEqual(mail.send_attempts, min(attempt, 4))
        self.assertEqual(mail.state, "error", "five tries: a failure")
        self.assertIn("No answer", mail.error)

    def test_draft_save_and_reopen(self):
        account = self.make_sender()
        form = self.composer()
        self.assertEqual(form.account_id, account, "the default sender")
        form.partner_ids.add(self.contact)
        form.subject = "Черновик"
        form.body = "<p>Недописанное</p>"
        form.save().action_save_draft()
        draft = self.sent_mails(account)
        self.assertEqual(draft.state, "draft")
        self.assertFalse(self.peer.received())
        drafts = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action_drafts"
        )
        Message = self.env["crm.mail.message"].with_user(self.user_sales)
        domain = [
            (f, o, self.user_sales.id if v == "uid" else v)
            for f, o, v in [("state", "=", "draft"), ("author_user_id", "=", "uid")]
        ]
        self.assertIn("author_user_id", drafts["domain"])
        self.assertEqual(Message.search(domain), draft)

        action = draft.with_user(self.user_sales).action_edit_draft()
        form = self.composer(**action["context"])
        self.assertEqual(form.subject, "Черновик")
        self.assertIn("Недописанное", form.body)
        self.assertIn("ivan@romashka.example", form.email_to)
        form.subject = "Черновик, готово"
        self.send(form)
        self.assertEqual(self.sent_mails(account), draft, "the same record is sent")
        self.assertEqual(draft.state, "sent")
        self.assertEqual(
            parse(self.peer.received()[0]["data"])["Subject"], "Черновик, готово"
        )

    def test_mass_mail_one_mail_per_recipient(self):
        self.make_sender()
        partners = self.env["res.partner"].create(
            [
                {"name": f"Клиент {i}", "email": f"client{i}@mass.example"}
                for i in range(50)
            ]
        )
        template = self.env["mail.template"].create(
            {
                "name": "Offer",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "Предложение для {{ object.name }}",
                "body_html": "<p>Здравствуйте, <t t-out='object.name'/>!</p>",
            }
        )
        action = partners.with_user(self.user_sales).action_crm_mail_compose()
        form = self.composer(**action["context"])
        self.assertEqual(form.composition_mode, "mass")
        self.assertEqual(form.recipient_count, 50)
        form.template_id = template
        wizard = form.save()
        result = wizard.action_send()
        queued = self.env["crm.mail.message"].search(result["domain"])
        self.assertEqual(len(queued), 50)
        self.assertEqual(set(queued.mapped("state")), {"outgoing"})
        self.assertFalse(self.peer.received(), "queued, sent by the cron")
        # one recipient refused by the server: his mail fails, alone
        self.peer.refuse_rcpt = {"client7@mass.example"}
        with real_smtp():
            self.env["crm.mail.message"]._cron_send_mail(batch_size=100)
        refused = queued.filtered(lambda m: "client7@" in m.email_to)
        self.assertEqual(refused.state, "error")
        self.assertIn("client7@mass.example", refused.error)
        self.assertEqual(set((queued - refused).mapped("state")), {"sent"})
        received = self.peer.received()
        self.assertEqual(len(received), 49)
        for item in received:
            self.assertEqual(len(item["rcpt_tos"]), 1, "nobody sees the others")
            msg = parse(item["data"])
            self.assertEqual(
                [a.addr_spec for a in msg["To"].addresses], item["rcpt_tos"]
            )
            partner = partners.filtered(lambda p, m=item: p.email == m["rcpt_tos"][0])
            self.assertEqual(msg["Subject"], f"Предложение для {partner.name}")
            self.assertIn(
                f"Здравствуйте, {partner.name}!", msg.get_body(("html",)).get_content()
            )
        for mail in queued:
            self.assertEqual(
                mail.contact_id.email, mail.email_to.split("<")[-1].strip(">")
            )
        # the failure is listed with the rest of this mass mail
        failed = self.env["crm.mail.message"].search(
            result["domain"] + [("state", "=", "error")]
        )
        self.assertEqual(failed, refused)

    def test_cron_sends_one_session_per_account(self):
        """Authors of several languages: each failure is written in its
        author's language, but the account logs in to its server once."""
        account = self.make_sender()
        self.env["res.lang"]._activate_lang("ru_RU")
        self.user_sales.lang = "ru_RU"
        Message = self.env["crm.mail.message"]
        for user in (self.user_sales, self.env.ref("base.user_admin")):
            Message.create(
                {
                    "account_id": account.id,
                    "direction": "outgoing",
                    "state": "outgoing",
                    "author_user_id": user.id,
                    "email_from": account.email,
                    "email_to": "client@client.example",
                    "subject": f"from {user.login}",
                }
            )
        with real_smtp():
            Message.with_context(lang=None)._cron_send_mail()
        self.assertEqual(len(self.peer.received()), 2)
        self.assertEqual(self.peer.logins, 1)

    def test_templates_render_for_the_recipient_in_his_language(self):
        """A contact template in the recipient's language (subject too) and
        a CRM mail template rendered for the mail answered."""
        self.env["res.lang"]._activate_lang("ru_RU")
        account = self.make_sender()
        self.contact.lang = "ru_RU"
        offer = self.env["mail.template"].create(
            {
                "name": "Offer",
                "model_id": self.env.ref("base.model_res_partner").id,
                "lang": "{{ object.lang }}",
                "subject": "Offer for {{ object.name }}",
                "body_html": "<p>Dear <t t-out='object.name'/>,</p>",
            }
        )
        offer.with_context(lang="ru_RU").write(
            {
                "subject": "Предложение для {{ object.name }}",
                "body_html": "<p>Уважаемый <t t-out='object.name'/>,</p>",
            }
        )
        form = self.composer()
        form.partner_ids.add(self.contact)
        form.show_details = True  # the Cc, Bcc, Template link
        form.template_id = offer
        self.assertEqual(form.subject, "Предложение для Иван Петров")
        self.assertIn("Уважаемый Иван Петров", form.body)
        self.assertIn("Anna Smirnova", form.body, "the signature stays")

        self.deliver(
            make_mail(subject="Заказ 16", sender="Иван Петров <ivan@romashka.example>")
        )
        account._fetch_locked()
        original = self.env["crm.mail.message"].search([("subject", "=", "Заказ 16")])
        answer = self.env["mail.template"].create(
            {
                "name": "Order received",
                "model_id": self.env.ref("crm_mail_client.model_crm_mail_message").id,
                "subject": "Re: {{ object.subject }} (принят)",
                "body_html": "<p>Заказ от <t t-out='object.from_name'/> принят.</p>",
            }
        )
        action = original.with_user(self.user_sales).action_reply()
        form = self.composer(**action["context"])
        form.show_details = True  # the Cc, Bcc, Template link
        form.template_id = answer
        self.assertEqual(form.subject, "Re: Заказ 16 (принят)")
        self.assertIn("Заказ от Иван Петров принят.", form.body)
        self.send(form)
        reply = self.sent_mails(account)
        self.assertEqual((reply.state, reply.parent_id), ("sent", original))

    def test_interrupted_sending_is_never_resent(self):
        account = self.make_sender()
        Message = self.env["crm.mail.message"]
        stuck = Message.create(
            {
                "account_id": account.id,
                "direction": "outgoing",
                "state": "sending",
                "email_from": account.email,
                "email_to": "ivan@romashka.example",
                "subject": "Stuck",
                "message_id": "<stuck@crm.test>",
                "dedupe_key": "<stuck@crm.test>",
            }
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE crm_mail_message SET write_date = %s WHERE id = %s",
            (fields.Datetime.now() - timedelta(hours=1), stuck.id),
        )
        stuck.invalidate_recordset()
        with real_smtp():
            Message._cron_send_mail()
        self.assertEqual(stuck.state, "error")
        self.assertIn("Interrupted", stuck.error)
        self.assertFalse(self.peer.received())

    def test_header_injection_refused(self):
        self.make_sender()
        for field, value in [
            ("subject", "Hello\r\nBcc: victim@x.example"),
            ("email_to", "ivan@romashka.example\nBcc: victim@x.example"),
            ("email_cc", "a@b.example\r"),
        ]:
            with self.subTest(field=field):
                wizard = (
                    self.env["crm.mail.compose"]
                    .with_user(self.user_sales)
                    .create({"email_to": "ivan@romashka.example", field: value})
                )
                with self.assertRaises(UserError), real_smtp():
                    wizard.action_send()
        self.assertFalse(self.peer.received())
        wizard = (
            self.env["crm.mail.compose"]
            .with_user(self.user_sales)
            .create({"email_to": "ivan@romashka.example, not-an-address"})
        )
        with self.assertRaisesRegex(UserError, "not-an-address"):
            wizard.action_send()

    def test_rights_to_send(self):
        account = self.make_sender()
        stranger = new_test_user(
            self.env,
            login="crm_mail_stranger",
            groups="sales_team.group_sale_salesman",
            name="Stranger",
        )
        Compose = self.env["crm.mail.compose"].with_user(stranger)
        self.assertFalse(Compose.new({}).allowed_account_ids.ids)
        wizard = Compose.create(
            {"account_id": account.id, "email_to": "ivan@romashka.example"}
        )
        with self.assertRaises(AccessError), real_smtp():
            wizard.action_send()
        self.assertFalse(self.peer.received())
        # with the Send right only: sends, and keeps seeing what he wrote
        self.grant(account, stranger, in_read=False, out_send=True)
        self.assertEqual(Compose.new({}).allowed_account_ids.ids, account.ids)
        wizard = Compose.create(
            {
                "account_id": account.id,
                "email_to": "ivan@romashka.example",
                "subject": "Mine",
                "partner_ids": [Command.set(self.contact.ids)],
            }
        )
        with real_smtp():
            wizard.action_send()
        mine = self.env["crm.mail.message"].with_user(stranger).search([])
        self.assertEqual(mine.mapped("subject"), ["Mine"])

    def test_send_email_from_partner_forms(self):
        self.make_sender()
        action = self.contact.with_user(self.user_sales).action_crm_mail_compose()
        form = self.composer(**action["context"])
        self.assertEqual(form.composition_mode, "single")
        self.assertIn("ivan@romashka.example", form.email_to)
        # a company without an address of its own: its people are addressed
        company = self.env["res.partner"].create(
            {"name": "Без почты", "is_company": True}
        )
        olga = self.env["res.partner"].create(
            {
                "name": "Ольга",
                "email": "olga@bezpochty.example",
                "parent_id": company.id,
            }
        )
        action = company.with_user(self.user_sales).action_crm_mail_compose()
        self.assertEqual(action["context"]["default_partner_ids"], olga.ids)
        self.assertEqual(action["context"]["default_composition_mode"], "single")
        company.child_ids.email = False
        with self.assertRaises(UserError):
            company.with_user(self.user_sales).action_crm_mail_compose()


@tagged("post_install", "-at_install")
class TestAnsweredMark(SendCase):
    def test_readers_see_who_answered(self):
        """A colleague who reads only incoming mail sees that the customer
        was answered, by whom and when (not the answer itself)."""
        account = self.make_sender()
        line = account.access_ids.filtered(lambda rec: rec.user_id == self.user_sales)
        line.sudo().in_read = True
        reader = new_test_user(
            self.env, login="crm_mail_reader", groups="sales_team.group_sale_salesman"
        )
        self.grant(account, reader, in_read=True)
        incoming = self.env["crm.mail.message"].create(
            {
                "account_id": account.id,
                "direction": "incoming",
                "subject": "Счёт",
                "email_from": "ivan@romashka.example",
                "contact_id": self.contact.id,
            }
        )
        context = incoming.with_user(self.user_sales).action_reply()["context"]
        form = self.composer(**context)
        self.send(form)
        seen = incoming.with_user(reader)
        self.assertEqual(seen.answered_by_id, self.user_sales)
        self.assertTrue(seen.answered_date)
        answers = (
            self.env["crm.mail.message"]
            .with_user(reader)
            .search([("parent_id", "=", incoming.id)])
        )
        self.assertFalse(answers, "the answer itself stays outgoing mail")

    def test_copy_to_the_author_and_the_attachment_limit(self):
        """vtiger's copy of sent mail to its author (Bcc, an account option)
        and an outgoing attachment limit refused before sending (#23.10)."""
        account = self.make_sender(bcc_author=True)
        self.user_sales.email = "anna.sales@crm.test"
        form = self.composer()
        form.email_to = "ivan@romashka.example"
        form.subject = "Offer"
        self.send(form)
        mail = self.sent_mails(account)
        self.assertIn("anna.sales@crm.test", mail.email_bcc)
        (received,) = self.peer.received()
        self.assertIn("anna.sales@crm.test", received["rcpt_tos"])
        # too heavy: refused in the composer, with the reason; nothing queued
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_client.max_send_mb", 1
        )
        big = (
            self.env["ir.attachment"]
            .with_user(self.user_sales)
            .create({"name": "price.pdf", "raw": b"%PDF" + b"0" * (1024 * 1024 + 10)})
        )
        form = self.composer()
        form.email_to = "ivan@romashka.example"
        form.subject = "Heavy"
        form.attachment_ids.add(big)
        wizard = form.save()
        with self.assertRaisesRegex(UserError, "weigh 1.0 MB"):
            wizard.action_send()
        self.assertEqual(len(self.sent_mails(account)), 1)

    def test_a_shared_mailbox_signs_with_the_writers_name(self):
        """The account's signature may bring the writer's own first (#23.8)."""
        account = self.make_sender(
            signature="<p>ООО Ромашка, отдел продаж</p>", signature_with_user=True
        )
        self.user_sales.signature = "<p>Анна Смирнова</p>"
        form = self.composer()
        self.assertIn("Анна Смирнова", form.body)
        self.assertIn("отдел продаж", form.body)
        self.assertLess(form.body.index("Анна"), form.body.index("отдел продаж"))
        account.signature_with_user = False
        form = self.composer()
        self.assertNotIn("Анна Смирнова", form.body)
        self.assertIn("отдел продаж", form.body)

    def test_a_test_message_goes_round(self):
        """1C's check on save: a message to the account itself, sent and
        found in the Inbox, each step reported; then removed (#23.11)."""
        account = self.make_sender(user_id=self.user_sales.id)
        box = self.mailbox
        self.peer.deliver = lambda rcpt, raw: (
            self.dovecot.deliver(box, raw) if rcpt == box else None
        )
        self.addCleanup(setattr, self.peer, "deliver", None)
        with real_smtp():
            action = account.with_user(self.user_sales).action_test_message()
        params = action["params"]
        self.assertEqual(params["type"], "success", params["message"])
        self.assertIn("SMTP", params["message"])
        self.assertIn("Inbox", params["message"])
        self.assertEqual(self.dovecot.message_count(box), 0, "the test message went")
        # it never comes back: the step that fails is named
        self.peer.deliver = None
        with (
            real_smtp(),
            patch(
                "odoo.addons.crm_mail_client.models.crm_mail_account_connection"
                ".TEST_MESSAGE_WAIT",
                2,
            ),
        ):
            action = account.action_test_message()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("not in the Inbox", action["params"]["message"])
        # somebody who only reads the account does not test it
        other = self.make_sender(email="other@crm.test", default=False)
        with self.assertRaises(AccessError):
            other.with_user(self.user_sales).action_test_message()
