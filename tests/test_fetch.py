import base64
import os
import random
import signal
import string
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

import psycopg2

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..devtools.samples import NOT_A_MAIL, mixed_message, sample_message
from ..mail_engine.exceptions import ConnectError
from ..mail_engine.parse_worker import ParseWorker
from ..mail_engine.pop3_session import Pop3Session
from ..models import crm_mail_account_fetch_imap as fetch_imap
from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestFetch(MailServerCase):
    def messages(self, account, **domain):
        return self.env["crm.mail.message"].search(
            [("account_id", "=", account.id)] + [(k, "=", v) for k, v in domain.items()]
        )

    def test_imap_exactly_once(self):
        for i in range(7):
            self.deliver(make_mail(subject=f"Order {i}"))
        account = self.make_account(max_per_run=5)
        run = account._fetch_locked()
        self.assertEqual(run.counts["stored"], 5)
        self.assertTrue(run.more, "two mails wait for the next batch")
        run = account._fetch_locked()
        self.assertEqual(run.counts["stored"], 2)
        self.assertFalse(run.more)
        run = account._fetch_locked()
        self.assertEqual(sum(run.counts.values()), 0)
        self.assertEqual(
            sorted(self.messages(account).mapped("subject")),
            [f"Order {i}" for i in range(7)],
        )
        self.assertEqual(len(account.fetch_log_ids), 3)
        self.assertEqual(account.state, "ok")
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(inbox.last_uid, 7)

    def test_fetch_keeps_server_flags(self):
        self.deliver(make_mail())
        account = self.make_account()
        account._fetch_locked()
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 1)
        from odoo.addons.crm_mail_client.mail_engine.imap_session import ImapSession

        with ImapSession.open(account._incoming_config()) as session:
            fetched = list(session.fetch("INBOX", [1]))
        self.assertNotIn("\\Seen", fetched[0].flags)
        account.mark_as_read = True
        self.deliver(make_mail(subject="second"))
        account._fetch_locked()
        with ImapSession.open(account._incoming_config()) as session:
            fetched = list(session.fetch("INBOX", [2]))
        self.assertIn("\\Seen", fetched[0].flags)

    def test_parsed_fields_and_attachments(self):
        raw = make_mail(
            subject="Счёт на оплату",
            sender="Иван Петров <Ivan@Client.Example>",
            to=f"Sales <{self.mailbox}>",
            html="<p>Добрый день!</p><script>alert(1)</script>",
            attachments=[("счёт.pdf", b"%PDF-1.4 test", "application/pdf")],
        )
        self.deliver(raw)
        account = self.make_account()
        account._fetch_locked()
        mail = self.messages(account)
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.subject, "Счёт на оплату")
        self.assertEqual(mail.email_from, "ivan@client.example")
        self.assertEqual(mail.from_name, "Иван Петров")
        self.assertEqual(mail.direction, "incoming")
        self.assertIn("Добрый день!", mail.body_html)
        self.assertNotIn("<script", mail.body_html)
        self.assertEqual(mail.attachment_ids.name, "счёт.pdf")
        self.assertEqual(base64.b64decode(mail.attachment_ids.datas), b"%PDF-1.4 test")
        self.assertTrue(mail.has_attachments)
        self.assertTrue(mail.message_id.startswith("<"))

    def test_attachment_cap(self):
        big = b"x" * (2 * 1024 * 1024)
        self.deliver(
            make_mail(attachments=[("big.bin", big, "application/octet-stream")])
        )
        account = self.make_account(max_attachment_mb=1)
        account._fetch_locked()
        mail = self.messages(account)
        self.assertFalse(mail.attachment_ids)
        self.assertIn("big.bin", mail.attachment_note)

    def test_duplicate_message_id_and_self_sent(self):
        raw = make_mail(message_id="<same@client.example>")
        self.deliver(raw)
        self.deliver(raw, folder="Archive")
        self.deliver(
            make_mail(sender=self.mailbox, to=self.mailbox, subject="note to self")
        )
        self.deliver(
            make_mail(
                sender=self.mailbox, to="client@client.example", subject="our offer"
            ),
            folder="Sent",
        )
        account = self.make_account()
        run = account._fetch_locked()
        self.assertEqual(run.counts["stored"], 3)
        self.assertEqual(run.counts["duplicate"], 1)
        offer = self.messages(account, subject="our offer")
        self.assertEqual(offer.direction, "outgoing")
        # a mail to the account itself is kept, as received mail
        note = self.messages(account, subject="note to self")
        self.assertEqual(note.direction, "incoming")
        log = account.fetch_log_ids[:1]
        self.assertEqual((log.stored, log.skipped_duplicate), (3, 1))
        self.assertIn("duplicate: <same@client.example>", log.details)

    def test_quarantine_keeps_raw(self):
        self.deliver(b"\x01\x02 not a mail at all \xff\xfe")
        self.deliver(make_mail(subject="fine"))
        account = self.make_account()
        run = account._fetch_locked()
        self.assertEqual(run.counts["quarantined"], 1)
        self.assertEqual(run.counts["stored"], 1)
        quarantined = self.messages(account, state="quarantined")
        self.assertTrue(quarantined.error)
        raw = base64.b64decode(quarantined.attachment_ids.datas)
        self.assertEqual(raw.strip(), b"\x01\x02 not a mail at all \xff\xfe")

    def test_quarantined_mail_read_again(self):
        """*Read Again* stores what can be read now, in the quarantined
        mail's place; what still cannot stays, with today's reason."""
        self.deliver(b"\x01\x02 not a mail at all \xff\xfe")
        self.deliver(make_mail(subject="Счёт", message_id="<q-retry@client.example>"))
        account = self.make_account()
        Message = type(self.env["crm.mail.message"])
        with patch.object(Message, "_store_parsed", side_effect=RuntimeError("full")):
            account._fetch_locked()
        quarantined = self.messages(account, state="quarantined")
        self.assertEqual(len(quarantined), 2)
        with self.assertRaises(AccessError):
            quarantined.with_user(self.user_sales).action_retry_quarantined()
        quarantined_ids = quarantined.ids
        # the mail read again keeps its place on the server (no delete is
        # asked of it) and its original (also where new mail keeps none)
        account.write({"delete_on_server_with_record": True, "keep_original": False})
        result = quarantined.action_retry_quarantined()
        self.assertIn("Stored as mail: 1", result["params"]["message"])
        stored = self.messages(account, state="received")
        self.assertEqual(stored.subject, "Счёт")
        self.assertTrue(stored.imap_uid)
        self.assertFalse(
            self.env["crm.mail.server.action"].search([("account_id", "=", account.id)])
        )
        (original,) = stored.attachment_ids.filtered(lambda a: a.name == "original.eml")
        self.assertIn(b"<q-retry@client.example>", original.raw)
        left = self.messages(account, state="quarantined")
        self.assertEqual(len(left), 1)
        self.assertIn("no mail header found", left.error)
        self.assertEqual(
            base64.b64decode(left.attachment_ids.datas).strip(),
            b"\x01\x02 not a mail at all \xff\xfe",
        )
        # the stored mail's server place: fetched again, not stored twice
        self.assertEqual(account._fetch_locked().counts["stored"], 0)
        self.assertFalse(
            self.env["ir.attachment"].search(
                [
                    ("res_model", "=", "crm.mail.message"),
                    ("res_id", "in", quarantined_ids),
                    ("res_id", "!=", left.id),
                ]
            ),
            "no original left behind",
        )

    def test_quarantine_reason_in_the_owners_language(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["crm_mail_client"], ["ru_RU"])
        self.deliver(b"\x01\x02 not a mail at all \xff\xfe")
        account = self.make_account()
        account.with_context(lang="ru_RU")._fetch_locked()
        quarantined = self.messages(account, state="quarantined")
        self.assertRegex(
            quarantined.error, "^[А-Яа-яё ,.:-]+ \\(no mail header found\\)$"
        )

    def test_pop3_keeps_what_it_got_when_the_server_drops_it(self):
        """The server drops the session after three messages: those three
        are stored and recorded, the next run fetches the rest."""
        for i in range(5):
            self.deliver(make_mail(subject=f"POP {i}"))
        account = self.make_account(protocol="pop3")
        retrieve = Pop3Session.retrieve
        calls = []

        def dropping(session, number):
            calls.append(number)
            if len(calls) == 4:
                raise ConnectError("dropped", code="network")
            return retrieve(session, number)

        with patch.object(Pop3Session, "retrieve", dropping):
            run = account._fetch_locked()
        self.assertEqual(account.state, "error")
        self.assertEqual(run.counts["stored"], 3)
        self.assertEqual(len(self.messages(account)), 3)
        self.assertEqual(
            self.env["crm.mail.pop3.uidl"].search_count(
                [("account_id", "=", account.id)]
            ),
            3,
        )
        account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 5)

    def test_database_error_is_no_quarantine(self):
        """A serialization failure while storing is the database's, not the
        mail's: nothing is quarantined, the run stops with a clear error and
        the next run stores the mail."""
        self.deliver(make_mail(subject="good mail"))
        account = self.make_account()
        Message = type(self.env["crm.mail.message"])
        original = Message._store_parsed

        def serialization_failure(*args, **kwargs):
            raise psycopg2.errors.SerializationFailure(
                "could not serialize access due to concurrent update"
            )

        with patch.object(Message, "_store_parsed", serialization_failure):
            run = account._fetch_locked()
        self.assertEqual(run.counts["quarantined"], 0)
        self.assertFalse(self.messages(account, state="quarantined"))
        self.assertEqual(account.state, "error")
        self.assertIn("could not serialize", account.last_error)
        self.assertEqual(Message._store_parsed, original)
        account._fetch_locked()
        self.assertEqual(self.messages(account).mapped("subject"), ["good mail"])
        self.assertEqual(account.state, "ok")

    def test_uidvalidity_change_resyncs_without_duplicates(self):
        self.deliver(make_mail(subject="a"), folder="Orders")
        self.deliver(make_mail(subject="b"), folder="Orders")
        account = self.make_account()
        account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 2)
        folder = account.folder_ids.filtered(lambda f: f.name == "Orders")
        old_validity = folder.uidvalidity
        # the folder is recreated with the same mails and one new one
        known = [(m.subject, m.message_id) for m in self.messages(account)]
        self.dovecot.delete_folder(self.mailbox, "Orders")
        self.dovecot.create_folder(self.mailbox, "Orders")
        for subject, message_id in known:
            self.deliver(make_mail(subject=subject, message_id=message_id), "Orders")
        self.deliver(make_mail(subject="c"), folder="Orders")
        run = account._fetch_locked()
        folder.invalidate_recordset()
        self.assertNotEqual(folder.uidvalidity, old_validity)
        self.assertEqual(run.counts["duplicate"], 2)
        self.assertEqual(run.counts["stored"], 1)
        self.assertEqual(
            sorted(self.messages(account).mapped("subject")), ["a", "b", "c"]
        )

    def test_initial_days_window(self):
        old = datetime.now(timezone.utc) - timedelta(days=90)
        self.deliver(make_mail(subject="old", date=old), received=old)
        self.deliver(make_mail(subject="recent"))
        account = self.make_account(initial_days=30)
        account._fetch_locked()
        self.assertEqual(self.messages(account).mapped("subject"), ["recent"])
        account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 1, "old mail stays out")
        self.deliver(make_mail(subject="new"))
        account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 2)

    def test_pop3_uidl_and_delete_after_commit(self):
        for i in range(3):
            self.deliver(make_mail(subject=f"pop {i}"))
        account = self.make_account(protocol="pop3")
        run = account._fetch_locked()
        self.assertEqual(run.counts["stored"], 3)
        run = account._fetch_locked()
        self.assertEqual(sum(run.counts.values()), 0, "UIDL remembers what was fetched")
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 3)
        account.keep_on_server = False
        self.deliver(make_mail(subject="pop 3"))
        account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 4)
        # only the mail fetched in this run (committed first) left the server
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 3)

    def test_delete_on_server_with_record(self):
        self.deliver(make_mail(subject="to delete"))
        self.deliver(make_mail(subject="to keep"))
        account = self.make_account(delete_on_server_with_record=True)
        account._fetch_locked()
        self.messages(account, subject="to delete").unlink()
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 2)
        account._fetch_locked()
        self.assertEqual(self.dovecot.message_count(self.mailbox, "INBOX"), 1)

    def test_failing_account_does_not_block_others(self):
        self.deliver(make_mail(subject="ok mail"))
        good = self.make_account()
        bad = self.make_account(
            name="Broken", password="wrong", email="broken@crm.test"
        )
        self.env["crm.mail.account"].search(
            [("id", "not in", (good | bad).ids)]
        ).active = False
        self.env["crm.mail.account"]._cron_fetch_mail()
        self.assertEqual(bad.state, "error")
        self.assertIn("refused the login or password", bad.last_error)
        self.assertEqual(good.state, "ok")
        self.assertEqual(len(self.messages(good)), 1)

    def test_locked_account_is_skipped(self):
        account = self.make_account()
        cr2 = self.registry.cursor()
        try:
            cr2.execute("SELECT pg_advisory_lock(%s, %s)", (0x43524D4D, account.id))
            self.assertIsNone(account._fetch_locked())
            cr2.execute("SELECT pg_advisory_unlock(%s, %s)", (0x43524D4D, account.id))
        finally:
            cr2.close()
        self.assertIsNotNone(account._fetch_locked())

    def test_thread_parent(self):
        first = make_mail(subject="Question", message_id="<q1@client.example>")
        self.deliver(first)
        self.deliver(
            make_mail(
                subject="Re: Question",
                message_id="<a1@client.example>",
                headers={"In-Reply-To": "<q1@client.example>"},
            )
        )
        account = self.make_account()
        account._fetch_locked()
        answer = self.messages(account, subject="Re: Question")
        self.assertEqual(answer.parent_id.message_id, "<q1@client.example>")
        self.assertEqual(answer.thread_root_id, answer.parent_id)

    def test_per_user_unread(self):
        self.deliver(make_mail())
        account = self.make_account()
        account._fetch_locked()
        mail = self.messages(account)
        self.grant(account, self.user_sales, in_read=True)
        as_sales = mail.with_user(self.user_sales)
        self.assertTrue(as_sales.is_unread)
        as_sales.action_mark_read()
        as_sales.invalidate_recordset()
        self.assertFalse(as_sales.is_unread)
        self.assertTrue(mail.with_user(self.user_admin_mail).is_unread)
        Message = self.env["crm.mail.message"].with_user(self.user_sales)
        self.assertNotIn(mail, Message.search([("is_unread", "=", True)]))


@tagged("post_install", "-at_install")
class TestIngestStatements(MailServerCase):
    """What the database does per stored mail (#24): mails are stored in
    batches, a few statements for all of them, each written by its INSERT
    alone; a batch the database refuses costs only its mail at fault."""

    def test_a_stored_mail_is_not_updated_right_after_its_insert(self):
        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        cache = {}
        Message._ingest_raw(account, make_mail(subject="Разогрев"), {}, cache)
        self.env.flush_all()
        statements, logging = self._statements()
        with logging:
            outcome, _key = Message._ingest_raw(
                account,
                make_mail(subject="Заказ", body="Нужно 40 насосов."),
                {"pop3_uidl": "one"},
                cache,
            )
            self.env.flush_all()
        self.assertEqual(outcome, "stored")
        updates = [s for s in statements if s.startswith('UPDATE "crm_mail_message"')]
        self.assertEqual(updates, [])
        mail = Message.search([("pop3_uidl", "=", "one")])
        self.assertEqual(mail.snippet, "Нужно 40 насосов.")
        self.assertEqual(mail.company_id, account.company_id)

    def _statements(self):
        """A context manager that logs every statement into a list."""
        statements = []
        execute = type(self.env.cr).execute

        def logged(cursor, query, params=None, log_exceptions=True):
            text = query.code if hasattr(query, "code") else str(query)
            statements.append(" ".join(text.split()))
            return execute(cursor, query, params, log_exceptions)

        return statements, patch.object(type(self.env.cr), "execute", logged)

    def _known_sender(self, index):
        company = self.env["res.partner"].create(
            {"name": f"Клиент {index}", "is_company": True}
        )
        return self.env["res.partner"].create(
            {
                "name": f"Контакт {index}",
                "email": f"buyer{index}@client{index}.example",
                "parent_id": company.id,
            }
        )

    def test_a_batch_costs_a_few_statements_for_all_its_mails(self):
        """A batch of mails from known senders, some with attachments and
        in a conversation, is stored in a few statements for all of them
        (#24: at most 3 per mail on average; one mail alone cost 9)."""
        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        cache = {}
        Message._ingest_raw(account, make_mail(subject="Разогрев"), {}, cache)
        parent = make_mail(subject="Договор", message_id="<contract@crm.test>")
        Message._ingest_raw(account, parent, {"pop3_uidl": "parent"}, cache)
        contacts = [self._known_sender(index) for index in range(5)]
        self.env.flush_all()
        mails = []
        for index in range(20):
            contact = contacts[index % 5]
            mails.append(
                (
                    make_mail(
                        subject=f"Заказ {index}",
                        sender=f"{contact.name} <{contact.email}>",
                        body=f"Нужно {index} насосов.",
                        html=f"<p>Нужно <b>{index}</b> насосов.</p>",
                        headers={"In-Reply-To": "<contract@crm.test>"}
                        if index % 4 == 0
                        else None,
                        attachments=[("счёт.pdf", b"%PDF-1.4 " * 50, "application/pdf")]
                        if index % 3 == 0
                        else (),
                    ),
                    {"pop3_uidl": f"batch-{index}"},
                )
            )
        statements, logging = self._statements()
        with logging:
            items = Message._ingest_batch(account, mails, cache)
            self.env.flush_all()
        self.assertEqual([i.outcome[0] for i in items], ["stored"] * 20)
        self.assertLessEqual(len(statements), 3 * 20, "\n".join(statements))
        stored = Message.search([("pop3_uidl", "like", "batch-%")])
        self.assertEqual(len(stored), 20)
        by_uidl = {m.pop3_uidl: m for m in stored}
        for index in range(20):
            mail = by_uidl[f"batch-{index}"]
            self.assertEqual(mail.contact_id, contacts[index % 5])
            self.assertEqual(mail.partner_id, contacts[index % 5].parent_id)
            self.assertEqual(mail.has_attachments, index % 3 == 0)
            parent_mail = Message.search([("pop3_uidl", "=", "parent")])
            self.assertEqual(mail.parent_id == parent_mail, index % 4 == 0)

    def test_one_bad_mail_of_a_batch_is_quarantined_alone(self):
        """A batch the database refuses is stored mail by mail: the mail
        that fails is quarantined with its bytes, its neighbours stored."""
        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        original = type(Message)._store_parsed

        def refuse_the_bad_one(model, account, items, cache):
            if any(item.parsed.subject == "плохое" for item in items):
                raise ValueError("cannot store this one")
            return original(model, account, items, cache)

        mails = [
            (make_mail(subject=subject), {"pop3_uidl": subject})
            for subject in ("первое", "плохое", "третье")
        ]
        with patch.object(type(Message), "_store_parsed", refuse_the_bad_one):
            items = Message._ingest_batch(account, mails, {})
        self.assertEqual(
            [i.outcome[0] for i in items], ["stored", "quarantined", "stored"]
        )
        bad = Message.search([("pop3_uidl", "=", "плохое")])
        self.assertEqual(bad.state, "quarantined")
        self.assertIn("cannot store this one", bad.error)
        self.assertIn(b"Subject:", bad.attachment_ids.raw)
        self.assertEqual(
            Message.search([("pop3_uidl", "in", ["первое", "третье"])]).mapped("state"),
            ["received", "received"],
        )

    def test_a_place_taken_in_a_batch_costs_only_that_mail_its_place(self):
        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        Message._ingest_raw(account, make_mail(subject="old"), {"pop3_uidl": "u2"})
        mails = [
            (make_mail(subject=f"new {n}"), {"pop3_uidl": f"u{n}"}) for n in (1, 2, 3)
        ]
        # the mail whose place is taken is stored alone, the others in
        # their batch (which does not fail on it)
        store_one = type(Message)._store_one
        with patch.object(
            type(Message), "_store_one", autospec=True, side_effect=store_one
        ) as alone:
            items = Message._ingest_batch(account, mails, {})
        self.assertEqual(
            [call.args[2].source for call in alone.call_args_list],
            [{"pop3_uidl": "u2"}],
        )
        self.assertEqual(
            [i.outcome[0] for i in items], ["stored", "quarantined", "stored"]
        )
        moved = Message.search([("subject", "=", "new 2")])
        self.assertEqual(moved.state, "quarantined")
        self.assertFalse(moved.pop3_uidl)

    def test_answers_copies_and_new_senders_within_one_batch(self):
        """What one mail of a batch makes, the later ones find: its copy is
        a duplicate, its answer joins its thread (also an answer that came
        first), its unknown sender is made a contact once."""
        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        stranger = "Пётр Новый <petr@novaya-firma.example>"
        question = make_mail(
            subject="Вопрос", sender=stranger, message_id="<q@novaya-firma.example>"
        )
        mails = [
            (
                make_mail(
                    subject="Re: Ответ",
                    message_id="<early@crm.test>",
                    headers={"In-Reply-To": "<late@novaya-firma.example>"},
                ),
                {"pop3_uidl": "early"},
            ),
            (question, {"pop3_uidl": "q"}),
            (make_mail(subject="Ещё вопрос", sender=stranger), {"pop3_uidl": "q2"}),
            (
                make_mail(
                    subject="Re: Вопрос",
                    sender=stranger,
                    headers={"References": "<q@novaya-firma.example>"},
                ),
                {"pop3_uidl": "answer"},
            ),
            (question, {"pop3_uidl": "q-copy"}),
            (
                make_mail(subject="Позднее", message_id="<late@novaya-firma.example>"),
                {"pop3_uidl": "late"},
            ),
        ]
        # no batch refused (each mail would then be stored alone)
        refused = AssertionError("a batch was refused")
        with patch.object(type(Message), "_store_one", side_effect=refused):
            items = Message._ingest_batch(account, mails, {})
        self.assertEqual(
            [i.outcome[0] for i in items],
            ["stored", "stored", "stored", "stored", "duplicate", "stored"],
        )
        by_uidl = {
            m.pop3_uidl: m for m in Message.search([("account_id", "=", account.id)])
        }
        self.assertEqual(by_uidl["answer"].parent_id, by_uidl["q"])
        self.assertEqual(by_uidl["early"].parent_id, by_uidl["late"])
        self.assertEqual(
            self.env["res.partner"].search_count(
                [("email", "=", "petr@novaya-firma.example")]
            ),
            1,
        )
        self.assertEqual(by_uidl["answer"].contact_id, by_uidl["q"].contact_id)
        self.assertEqual(by_uidl["q2"].contact_id, by_uidl["q"].contact_id)
        self.assertTrue(by_uidl["q"].contact_id)

    def test_a_fetched_body_is_sanitized_once(self):
        """The ORM sanitizes an HTML value twice on create; a fetched body
        is sanitized once, with the field's options, scripts and event
        handlers gone all the same; a plain-text body, escaped by the
        engine, is not sanitized at all."""
        import odoo.fields as odoo_fields

        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        html = (
            '<p onclick="steal()" style="color:red">Счёт <b>№5</b></p>'
            "<script>alert(1)</script><form><input name='x'></form>"
        )
        calls = []
        sanitize = odoo_fields.html_sanitize

        def counted(*args, **kwargs):
            if "steal()" in str(args[0]):  # the mail's body (not a chatter note)
                calls.append(args[0])
            return sanitize(*args, **kwargs)

        # the body field sanitizes through Odoo's own conversion
        with patch.object(odoo_fields, "html_sanitize", counted):
            outcome, _key = Message._ingest_raw(
                account, make_mail(subject="Счёт", html=html), {"pop3_uidl": "h"}
            )
            self.env.flush_all()
        self.assertEqual(outcome, "stored")
        self.assertEqual(len(calls), 1)
        mail = Message.search([("pop3_uidl", "=", "h")])
        self.assertEqual(
            str(mail.body_html).strip(),
            Message._fields["body_html"].convert_to_cache(html, mail).strip(),
        )
        self.assertNotIn("script", mail.body_html)
        self.assertNotIn("onclick", mail.body_html)
        self.assertIn("color:red", mail.body_html)
        # a value written by hand is sanitized as before
        mail.body_html = html
        self.assertNotIn("onclick", mail.body_html)
        # plain text made HTML by the engine is all escaped: not sanitized
        # the body field sanitizes through Odoo's own conversion
        with patch.object(odoo_fields, "html_sanitize", counted):
            Message._ingest_raw(
                account,
                make_mail(subject="Текст", body='<p onclick="steal()">plain</p>'),
                {"pop3_uidl": "t"},
            )
            self.env.flush_all()
        self.assertEqual(len(calls), 1)
        text = Message.search([("pop3_uidl", "=", "t")])
        self.assertIn("&lt;p onclick=", str(text.body_html))
        self.assertNotIn("<p onclick", str(text.body_html))

    def test_inline_images_of_a_batch_point_at_their_own_files(self):
        """Each mail's cid: images point at its own attachments, also with
        the originals kept beside them (a batch makes them all at once)."""
        from email.message import EmailMessage

        account = self.make_account(protocol="pop3", keep_original=True)
        Message = self.env["crm.mail.message"].sudo()

        def with_logo(subject, logo):
            msg = EmailMessage()
            msg["From"] = "Ivan Petrov <ivan@client.example>"
            msg["To"] = "sales@crm.test"
            msg["Subject"] = subject
            msg["Message-ID"] = f"<{subject}@client.example>"
            msg.set_content("logo")
            msg.add_alternative(
                f'<p>{subject}</p><img src="cid:logo-{subject}">', subtype="html"
            )
            msg.get_payload()[1].add_related(
                logo, "image", "png", cid=f"<logo-{subject}>", filename="logo.png"
            )
            return msg.as_bytes()

        mails = [
            (with_logo(name, f"PNG of {name}".encode()), {"pop3_uidl": name})
            for name in ("one", "two", "three")
        ]
        items = Message._ingest_batch(account, mails, {})
        self.assertEqual([i.outcome[0] for i in items], ["stored"] * 3)
        for name in ("one", "two", "three"):
            mail = Message.search([("pop3_uidl", "=", name)])
            logo = mail.attachment_ids.filtered(lambda a: a.name == "logo.png")
            self.assertEqual(logo.raw, f"PNG of {name}".encode())
            self.assertIn(f'src="/web/image/{logo.id}"', str(mail.body_html))

    def test_a_value_too_long_for_an_index_costs_only_its_mail(self):
        """PostgreSQL cannot index a 6,000-character sender: that mail is
        quarantined, the mails around it are stored, the fetch goes on (it
        used to stop there, run after run)."""
        account = self.make_account(protocol="pop3")
        Message = self.env["crm.mail.message"].sudo()
        # random: PostgreSQL would compress a repeated letter into the index
        rng = random.Random(8)
        huge = "".join(rng.choices(string.ascii_letters + string.digits, k=6000))
        huge += "@client.example"
        mails = [
            (make_mail(subject="до"), {"pop3_uidl": "before"}),
            (make_mail(subject="огромный", sender=huge), {"pop3_uidl": "huge"}),
            (
                make_mail(
                    subject="длинный id", message_id="<" + "y" * 5000 + "@x.example>"
                ),
                {"pop3_uidl": "long-id"},
            ),
            (make_mail(subject="после"), {"pop3_uidl": "after"}),
        ]
        items = Message._ingest_batch(account, mails, {})
        self.assertEqual(
            [i.outcome[0] for i in items],
            ["stored", "quarantined", "stored", "stored"],
        )
        kept = Message.search([("pop3_uidl", "=", "huge")])
        self.assertEqual(kept.state, "quarantined")
        self.assertIn(huge.encode(), kept.attachment_ids.raw)
        long_id = Message.search([("pop3_uidl", "=", "long-id")])
        self.assertFalse(long_id.message_id)
        self.assertTrue(long_id.dedupe_key.startswith("sha256:"))

    def test_unknown_senders_of_a_batch_are_made_together(self):
        """The new contacts of a batch are created in one INSERT, their new
        companies in another; two senders of one domain share a company,
        whose main contact is the first of them."""
        account = self.make_account(protocol="pop3")
        self.assertEqual(account.company_id, self.env.company)
        self.main_contact_field()
        Message = self.env["crm.mail.message"].sudo()
        senders = [
            "Анна <anna@novaya.example>",
            "Борис <boris@zavod.example>",
            "Вера <vera@novaya.example>",
            "Глеб <gleb.p@gmail.com>",
        ]
        mails = [
            (make_mail(subject=f"Письмо {n}", sender=sender), {"pop3_uidl": f"s{n}"})
            for n, sender in enumerate(senders + senders[:1])
        ]
        statements, logging = self._statements()
        with logging:
            items = Message._ingest_batch(account, mails, {})
        self.assertEqual([i.outcome[0] for i in items], ["stored"] * 5)
        inserts = [s for s in statements if s.startswith('INSERT INTO "res_partner"')]
        self.assertEqual(len(inserts), 2, inserts)
        by_uidl = {
            m.pop3_uidl: m for m in Message.search([("account_id", "=", account.id)])
        }
        anna, boris, vera, gleb = (by_uidl[f"s{n}"].contact_id for n in range(4))
        self.assertEqual(by_uidl["s4"].contact_id, anna)
        self.assertEqual(anna.parent_id, vera.parent_id)
        self.assertEqual(anna.parent_id.crm_mail_domain, "novaya.example")
        self.assertEqual(anna.parent_id.x_main_contact_id, anna)
        self.assertEqual(boris.parent_id.crm_mail_domain, "zavod.example")
        self.assertFalse(gleb.parent_id, "no company for a public mail domain")
        self.assertEqual(by_uidl["s1"].partner_id, boris.parent_id)


@tagged("post_install", "-at_install")
class TestParseWorker(MailServerCase):
    """A fetch of more than a batch parses in a child process, one batch
    ahead of the database: the same mail as parsed in the fetch, nothing
    lost when the child dies."""

    def _corpus(self):
        rng = random.Random(3)
        mails = [sample_message(i, "sales@crm.test", rng=rng) for i in range(60)]
        mails += [
            mixed_message(i, "sales@crm.test", rng, ("Иван", f"ivan{i % 7}@x.example"))
            for i in range(60)
        ]
        mails.insert(70, NOT_A_MAIL)
        return mails

    def _fetch_all(self, account):
        runs = []
        while True:
            run = account._fetch_locked()
            runs.append(run)
            if not run.more:
                return runs

    def _stored(self, account):
        mails = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        return {
            (m.dedupe_key if m.state != "quarantined" else "quarantined"): (
                m.state,
                m.subject,
                str(m.body_html),
                m.body_text,
                m.email_from,
                m.contact_id.email,
                sorted(m.attachment_ids.mapped("name")),
            )
            for m in mails
        }

    def test_mail_parsed_in_the_worker_is_stored_as_parsed_here(self):
        for raw in self._corpus():
            self.deliver(raw)
        started = []

        class Recorded(ParseWorker):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                started.append(self)

        with patch.object(fetch_imap, "ParseWorker", Recorded):
            ahead = self.make_account(max_per_run=500)
            self._fetch_all(ahead)
        self.assertEqual(len(started), 1)
        self.assertIsNotNone(started[0]._proc.poll(), "the child is stopped")
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_client.parse_worker", "0"
        )
        here = self.make_account(
            max_per_run=500, email="sales2@crm.test", name="Inline"
        )
        with patch.object(fetch_imap, "ParseWorker", Recorded):
            self._fetch_all(here)
        self.assertEqual(len(started), 1, "no worker when turned off")
        stored = self._stored(ahead)
        self.assertEqual(len(stored), 121)
        self.assertEqual(stored, self._stored(here))

    def test_a_dying_worker_loses_nothing(self):
        for raw in self._corpus():
            self.deliver(raw)

        class Dying(ParseWorker):
            def submit(self, raws):
                super().submit(raws)
                if self._waiting == 2:
                    os.kill(self.pid, signal.SIGKILL)

        with patch.object(fetch_imap, "ParseWorker", Dying):
            account = self.make_account(max_per_run=500)
            runs = self._fetch_all(account)
        self.assertEqual(sum(r.counts["stored"] for r in runs), 120)
        self.assertEqual(sum(r.counts["quarantined"] for r in runs), 1)
        self.assertEqual(len(self._stored(account)), 121)
