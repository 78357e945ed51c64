"""Trust, round 2 (issue #18): no mail vanishes, nothing blocks a mailbox.
Against the real Dovecot (and a fault proxy in front of it where Dovecot
cannot give the answer on demand). Each test names the item it covers."""

import time
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

import psycopg2

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.crm_mail_client.devtools.fault_proxy import FaultProxy
from odoo.addons.crm_mail_client.mail_engine.imap_session import ImapSession
from odoo.addons.crm_mail_client.models import crm_mail_address
from odoo.addons.crm_mail_client.models.crm_mail_account_fetch import LOCK_CLASS

from .common import MailServerCase, make_mail

#: RFC 3501's own example UIDVALIDITY, above 2^31
BIG_UIDVALIDITY = 3857529045
BIG_UID = 4294967000


@tagged("post_install", "-at_install")
class TestTrustFetch(MailServerCase):
    def messages(self, account, **domain):
        return self.env["crm.mail.message"].search(
            [("account_id", "=", account.id)]
            + [(name, "=", value) for name, value in domain.items()]
        )

    def on_server(self, folder="INBOX"):
        return self.dovecot.message_count(self.mailbox, folder)

    def proxy(self, protocol="imap", **refusals):
        port = (
            self.dovecot.imaps_port if protocol == "imap" else self.dovecot.pop3s_port
        )
        proxy = FaultProxy(port, self.dovecot.certs, protocol=protocol, **refusals)
        proxy.start()
        self.addCleanup(proxy.stop)
        return proxy

    # ------------------------------------------------------------
    # 1. a database refusal is looked at, never called a duplicate
    # ------------------------------------------------------------

    def test_01_place_taken_is_quarantined_not_a_duplicate(self):
        """A restored mailbox (or a POP3 server reusing ids) gives a new mail
        at a place where another stored mail is: it is kept, not dropped."""
        self.deliver(make_mail(subject="first"))
        account = self.make_account()
        account._fetch_locked()
        first = self.messages(account)
        # what a restore leaves: the place of the next UID is taken by a mail
        # that is not the one the server will give there
        first.sudo().copy(
            {
                "imap_uid": first.imap_uid + 1,
                "imap_uidvalidity": first.imap_uidvalidity,
                "folder_id": first.folder_id.id,
                "dedupe_key": "<restored@client.example>",
                "message_id": "<restored@client.example>",
            }
        )
        self.deliver(make_mail(subject="second", message_id="<second@client.example>"))
        run = account._fetch_locked()
        self.assertEqual(run.counts["duplicate"], 0)
        self.assertEqual(run.counts["quarantined"], 1)
        kept = self.messages(account, state="quarantined")
        self.assertEqual(kept.subject, "second")
        self.assertIn("place", kept.error)
        self.assertEqual(kept.attachment_ids.mapped("name"), ["original.eml"])

    # ------------------------------------------------------------
    # 7. "keep on server" off deletes only what is safe in the database
    # ------------------------------------------------------------

    def test_07_keep_on_server_off_deletes_only_stored_mail(self):
        self.env["crm.mail.blacklist"].create({"pattern": "spam@spam.example"})
        self.env["crm.mail.rule"].create(
            {
                "name": "no newsletters",
                "action_ignore": True,
                "condition_ids": [
                    (
                        0,
                        0,
                        {"field": "subject", "operator": "contains", "value": "news"},
                    )
                ],
            }
        )
        self.deliver(make_mail(subject="order"))
        self.deliver(make_mail(subject="buy", sender="spam@spam.example"))
        self.deliver(make_mail(subject="weekly news"))
        twice = make_mail(subject="twice", message_id="<twice@client.example>")
        self.deliver(twice)
        self.deliver(twice)
        account = self.make_account(keep_on_server=False)
        account._fetch_locked()
        self.assertEqual(
            sorted(self.messages(account).mapped("subject")), ["order", "twice"]
        )
        # the blacklisted and the ignored mail were never stored: they stay
        # on the server; the stored mails and the copy of one go
        self.assertEqual(self.on_server(), 2)

    # ------------------------------------------------------------
    # 8. one message the server will not give never blocks the rest
    # ------------------------------------------------------------

    def test_08_refused_fetch_goes_on_and_ends_in_quarantine(self):
        proxy = self.proxy(refuse_uids={2})
        for index in range(3):
            self.deliver(make_mail(subject=f"inbox {index}"))
        self.deliver(make_mail(subject="archived"), folder="Archive")
        account = self.make_account(incoming_port=proxy.port)
        run = account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)
        self.assertEqual(run.counts["stored"], 3)
        self.assertEqual(run.counts["refused"], 1)
        self.assertTrue(proxy.refused, "the server really refused")
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(inbox.last_uid, 3, "the checkpoint moved past it")
        retry = self.env["crm.mail.fetch.retry"].search(
            [("account_id", "=", account.id)]
        )
        self.assertEqual((retry.imap_uid, retry.attempts), (2, 1))
        log = account.fetch_log_ids[:1]
        self.assertEqual(log.refused, 1)
        self.assertIn("INBOX 2", log.details)
        self.assertIn("could not be FETCHed", log.details)
        account._fetch_locked()
        self.assertEqual(retry.attempts, 2)
        account._fetch_locked()
        self.assertFalse(retry.exists())
        stub = self.messages(account, state="quarantined")
        self.assertEqual((stub.folder_id, stub.imap_uid), (inbox, 2))
        self.assertIn("could not be FETCHed", stub.error)
        self.assertEqual(len(self.messages(account, state="received")), 3)

    def test_08_refused_message_arrives_once_the_server_gives_it(self):
        proxy = self.proxy(refuse_uids={1})
        self.deliver(make_mail(subject="flaky"))
        self.deliver(make_mail(subject="fine"))
        account = self.make_account(incoming_port=proxy.port)
        account._fetch_locked()
        self.assertEqual(self.messages(account).mapped("subject"), ["fine"])
        proxy.refuse_uids.clear()
        account._fetch_locked()
        self.assertEqual(
            sorted(self.messages(account).mapped("subject")), ["fine", "flaky"]
        )
        self.assertFalse(self.env["crm.mail.fetch.retry"].search_count([]))

    def test_08_damaged_message_dovecot_drops_the_connection(self):
        paths = [self.deliver(make_mail(subject=f"m{i}")) for i in range(4)]
        self.dovecot.damage(paths[1])
        account = self.make_account()
        run = account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)
        self.assertEqual(
            sorted(self.messages(account).mapped("subject")), ["m0", "m2", "m3"]
        )
        self.assertEqual(run.counts["refused"], 1)
        retry = self.env["crm.mail.fetch.retry"].search(
            [("account_id", "=", account.id)]
        )
        self.assertIn("connection dropped", retry.error)

    def test_08_pop3_err_on_retr(self):
        proxy = self.proxy(protocol="pop3", refuse_retr={2})
        for index in range(3):
            self.deliver(make_mail(subject=f"pop {index}"))
        account = self.make_account(protocol="pop3", incoming_port=proxy.port)
        for _run in range(3):
            account._fetch_locked()
            self.assertEqual(account.state, "ok", account.last_error)
        self.assertEqual(
            sorted(self.messages(account, state="received").mapped("subject")),
            ["pop 0", "pop 2"],
        )
        stub = self.messages(account, state="quarantined")
        self.assertTrue(stub.pop3_uidl)
        self.assertIn("unreadable", stub.error)
        run = account._fetch_locked()
        self.assertEqual(sum(run.counts.values()), 0, "done with it for good")

    def test_08_a_run_of_damaged_messages_blocks_nothing_for_good(self):
        """More damaged messages in a row than a fetch tolerates drops: the
        run stops, but what was refused stays counted, and the folder goes
        on in the next runs until the damaged ones end in Quarantine."""
        paths = [self.deliver(make_mail(subject=f"m{i}")) for i in range(6)]
        for path in paths[:5]:
            self.dovecot.damage(path)
        account = self.make_account()
        for _run in range(6):
            account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)
        self.assertEqual(self.messages(account, state="received").subject, "m5")
        self.assertEqual(len(self.messages(account, state="quarantined")), 5)
        self.assertFalse(self.env["crm.mail.fetch.retry"].search_count([]))

    def test_08_a_refused_stub_is_never_deleted_as_expired(self):
        self.deliver(make_mail(subject="kept"))
        account = self.make_account(keep_on_server=True, delete_after_days=30)
        account._fetch_locked()
        folder = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        stub = self.env["crm.mail.message"]._refused_stub(
            account,
            {
                "folder_id": folder.id,
                "imap_uidvalidity": folder.uidvalidity,
                "imap_uid": 9,
            },
            "NO damaged",
            3,
        )
        stored = self.messages(account, state="received")
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE crm_mail_message SET create_date = now() - interval '40 days' "
            "WHERE id IN %s",
            (tuple((stub | stored).ids),),
        )
        self.env.invalidate_all()
        self.assertEqual(account._expired_imap(folder), stored.mapped("imap_uid"))

    def test_07_same_message_id_other_content_stays_on_the_server(self):
        self.deliver(make_mail(subject="first", message_id="<reused@sender.example>"))
        self.deliver(
            make_mail(
                subject="another mail",
                body="quite different text",
                message_id="<reused@sender.example>",
            )
        )
        account = self.make_account(keep_on_server=False)
        run = account._fetch_locked()
        self.assertEqual(self.messages(account).subject, "first")
        self.assertEqual(self.on_server(), 1, "the other mail is not a copy")
        self.assertIn("same_message_id_other_content", "\n".join(run.details))

    # ------------------------------------------------------------
    # 9. a mail to the account itself is real mail
    # ------------------------------------------------------------

    def test_09_website_form_mail_is_stored_and_linked_by_reply_to(self):
        customer = self.env["res.partner"].create(
            {"name": "Olga Customer", "email": "olga@client.example"}
        )
        self.deliver(
            make_mail(
                subject="Website: request a quote",
                sender=self.mailbox,
                to=self.mailbox,
                headers={"Reply-To": "Olga Customer <olga@client.example>"},
            )
        )
        account = self.make_account()
        account._fetch_locked()
        mail = self.messages(account)
        self.assertEqual((mail.direction, mail.state), ("incoming", "received"))
        self.assertEqual(mail.contact_id, customer)

    def test_09_our_mail_with_a_copy_to_ourselves_stays_outgoing(self):
        self.deliver(
            make_mail(
                subject="offer",
                sender=self.mailbox,
                to="ivan@client.example",
                headers={"Cc": self.mailbox},
            ),
            folder="Sent",
        )
        account = self.make_account()
        account._fetch_locked()
        self.assertEqual(self.messages(account).direction, "outgoing")

    # ------------------------------------------------------------
    # 10. UIDs and UIDVALIDITY are unsigned 32-bit
    # ------------------------------------------------------------

    def test_10_uids_above_2_31(self):
        self.dovecot.set_uid_state(self.mailbox, "INBOX", BIG_UIDVALIDITY, BIG_UID)
        for index in range(2):
            self.deliver(make_mail(subject=f"big {index}"))
        account = self.make_account(delete_on_server_with_record=True)
        account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)
        mails = self.messages(account)
        self.assertEqual(len(mails), 2)
        self.assertEqual(set(mails.mapped("imap_uidvalidity")), {BIG_UIDVALIDITY})
        self.assertEqual(sorted(mails.mapped("imap_uid")), [BIG_UID, BIG_UID + 1])
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        self.assertEqual(
            (inbox.uidvalidity, inbox.last_uid), (BIG_UIDVALIDITY, BIG_UID + 1)
        )
        run = account._fetch_locked()
        self.assertEqual(sum(run.counts.values()), 0)
        mails[0].unlink()
        account._fetch_locked()
        self.assertEqual(self.on_server(), 1, "deleted at its 32-bit place")

    # ------------------------------------------------------------
    # 11. a renumbered folder: a window, and the mails move to their place
    # ------------------------------------------------------------

    def test_11_resync_keeps_history_out_and_moves_found_mails(self):
        self.deliver(make_mail(subject="a", message_id="<a@client.example>"), "Orders")
        self.deliver(make_mail(subject="b", message_id="<b@client.example>"), "Orders")
        account = self.make_account(delete_on_server_with_record=True)
        account._fetch_locked()
        folder = account.folder_ids.filtered(lambda f: f.name == "Orders")
        old_validity = folder.uidvalidity
        # the server renumbers the folder; it now also shows years of mail
        # that the fetch never took (moved in from an old archive)
        self.dovecot.delete_folder(self.mailbox, "Orders")
        years_ago = datetime.now(timezone.utc) - timedelta(days=800)
        for index in range(3):
            self.deliver(
                make_mail(subject=f"ancient {index}", date=years_ago),
                "Orders",
                received=years_ago,
            )
        self.deliver(make_mail(subject="a", message_id="<a@client.example>"), "Orders")
        self.deliver(make_mail(subject="b", message_id="<b@client.example>"), "Orders")
        self.deliver(make_mail(subject="c"), "Orders")
        run = account._fetch_locked()
        self.assertNotEqual(folder.uidvalidity, old_validity)
        self.assertEqual(
            sorted(self.messages(account).mapped("subject")), ["a", "b", "c"]
        )
        self.assertEqual((run.counts["stored"], run.counts["duplicate"]), (1, 2))
        # the mails found again moved to their new place...
        mails = self.messages(account)
        self.assertEqual(set(mails.mapped("imap_uidvalidity")), {folder.uidvalidity})
        # ...so deleting one in Odoo deletes it on the server
        self.messages(account, subject="a").unlink()
        account._fetch_locked()
        self.assertEqual(self.on_server("Orders"), 5)

    def test_11_renumbered_during_its_first_sync_loses_nothing(self):
        weeks_ago = datetime.now(timezone.utc) - timedelta(days=10)
        raws = [
            make_mail(subject=f"backlog {i}", message_id=f"<b{i}@client.example>")
            for i in range(5)
        ]
        for raw in raws:
            self.deliver(raw, "Orders", received=weeks_ago)
        account = self.make_account(max_per_run=2)
        account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 2, "the backlog waits")
        self.dovecot.delete_folder(self.mailbox, "Orders")
        for raw in raws:
            self.deliver(raw, "Orders", received=weeks_ago)
        for _run in range(4):
            account._fetch_locked()
        self.assertEqual(len(self.messages(account)), 5)

    # ------------------------------------------------------------
    # 12. server actions come from the database and wait for the server
    # ------------------------------------------------------------

    def test_12_deletions_wait_for_the_server(self):
        for index in range(3):
            self.deliver(make_mail(subject=f"m{index}"))
        account = self.make_account(keep_on_server=False)
        with ImapSession.open(account._incoming_config()) as session:
            session.search_uids("INBOX")  # Dovecot indexes the folder once
        self.dovecot.set_writable(self.mailbox, writable=False)
        try:
            account._fetch_locked()
        finally:
            self.dovecot.set_writable(self.mailbox)
        self.assertEqual(account.state, "error")
        self.assertEqual(len(self.messages(account)), 3)
        self.assertEqual(self.on_server(), 3)
        queued = self.env["crm.mail.server.action"].search(
            [("account_id", "=", account.id)]
        )
        self.assertEqual(len(queued), 3, "still to do")
        account._fetch_locked()
        self.assertEqual(account.state, "ok", account.last_error)
        self.assertEqual(self.on_server(), 0)
        self.assertFalse(queued.exists())
        self.assertTrue(all(self.messages(account).mapped("server_deleted")))

    # ------------------------------------------------------------
    # 13. the address index is rebuilt under the fetch locks, no TRUNCATE
    # ------------------------------------------------------------

    def test_13_rebuild_waits_for_fetches_and_blocks_no_reader(self):
        account = self.make_account()
        self.env["res.partner"].create({"name": "Indexed", "email": "i@x.example"})
        fetcher = self.registry.cursor()
        self.addCleanup(fetcher.close)
        fetcher.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, account.id))
        try:
            with (
                patch.object(crm_mail_address, "REBUILD_LOCK_WAIT", 1),
                self.assertRaises(UserError),
            ):
                self.env["crm.mail.address"]._rebuild()
        finally:
            fetcher.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, account.id)
            )
        self.env["crm.mail.address"]._rebuild()
        # another transaction still reads the (old) index meanwhile
        reader = self.registry.cursor()
        self.addCleanup(reader.close)
        reader.execute("SET statement_timeout = 3000")
        reader.execute("SELECT count(*) FROM crm_mail_address")
        self.assertTrue(reader.fetchone()[0] >= 0)
        self.assertTrue(
            self.env["crm.mail.address"].search([("address", "=", "i@x.example")])
        )

    # ------------------------------------------------------------
    # 14. companies: their own mapping, no archived partner, rules
    # ------------------------------------------------------------

    def test_14_multi_company(self):
        company_b = self.env["res.company"].create(
            {
                "name": "Company B",
                "crm_mail_contact_email_fields": "email,function",
            }
        )
        boss = self.env["res.partner"].create(
            {"name": "Boss", "function": "boss@partner-b.example"}
        )
        gone = self.env["res.partner"].create(
            {"name": "Left Us", "email": "left@client.example"}
        )
        gone.active = False
        team_a = self.env["crm.team"].create(
            {"name": "Team A", "company_id": self.env.company.id}
        )
        self.env["crm.mail.rule"].create(
            {
                "name": "every mail a lead",
                "action_create_lead": True,
                "lead_team_id": team_a.id,
            }
        )
        self.env["crm.mail.address"]._rebuild()
        for subject in ("one", "two"):
            self.deliver(make_mail(subject=subject, sender="boss@partner-b.example"))
        self.deliver(make_mail(subject="from the past", sender="left@client.example"))
        account = self.make_account(company_id=company_b.id)
        run = account._fetch_locked()
        self.assertEqual(run.counts["quarantined"], 0, run.details)
        mails = self.messages(account)
        self.assertEqual(len(mails), 3)
        from_boss = mails.filtered(lambda m: m.email_from == "boss@partner-b.example")
        self.assertEqual(from_boss.contact_id, boss, "B's mapping, one contact")
        past = mails - from_boss
        self.assertNotEqual(past.contact_id, gone, "never an archived partner")
        self.assertTrue(
            all(mails.lead_id.mapped(lambda lead: lead.company_id == company_b))
        )
        self.assertFalse(mails.lead_id.team_id, "Team A is another company's")

    # ------------------------------------------------------------
    # 15. blacklist counters never wait for another fetch
    # ------------------------------------------------------------

    def test_15_blacklist_hit_skips_a_locked_counter(self):
        setup = self.registry.cursor()
        self.addCleanup(setup.close)
        setup.execute(
            "INSERT INTO crm_mail_blacklist (pattern, subdomains, active, hit_count) "
            "VALUES ('@spam.example', true, true, 0) RETURNING id"
        )
        entry_id = setup.fetchone()[0]
        setup.commit()

        def cleanup():
            setup.execute("DELETE FROM crm_mail_blacklist WHERE id = %s", (entry_id,))
            setup.commit()

        self.addCleanup(cleanup)
        # another fetch holds the counter row
        setup.execute(
            "SELECT id FROM crm_mail_blacklist WHERE id = %s FOR UPDATE", (entry_id,)
        )
        with self.registry.cursor() as cr:
            cr.execute("SET lock_timeout = 2000")
            env = self.env(cr=cr)
            Blacklist = env["crm.mail.blacklist"]
            compiled = Blacklist._compiled(env["crm.mail.account"])
            cache = {}
            entry = Blacklist._hit(compiled, "a@spam.example", cache)
            self.assertEqual(entry.id, entry_id, "blocked without waiting")
            setup.rollback()  # the other fetch ends
            Blacklist._hit(compiled, "b@spam.example", cache)
            cr.execute(
                "SELECT hit_count FROM crm_mail_blacklist WHERE id = %s", (entry_id,)
            )
            self.assertEqual(cr.fetchone()[0], 2, "the pending hit counted later")
            cr.rollback()

    # ------------------------------------------------------------
    # 21. a database error in the fetch never leaves the lock held
    # ------------------------------------------------------------

    def test_21_lock_released_after_a_database_error(self):
        self.deliver(make_mail(subject="x"))
        account = self.make_account()
        Log = self.env.registry["crm.mail.fetch.log"]

        def broken_create(log_model, vals_list):
            log_model.env.cr.execute("SELECT 1 / 0")

        with (
            patch.object(Log, "create", broken_create),
            self.assertRaises(psycopg2.errors.DivisionByZero),
        ):
            account._fetch_locked()
        other = self.registry.cursor()
        self.addCleanup(other.close)
        other.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, account.id))
        self.assertTrue(other.fetchone()[0], "the lock went with the failed run")
        other.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, account.id))

    # ------------------------------------------------------------
    # 22. tables that do not grow for ever
    # ------------------------------------------------------------

    def test_22_fetch_logs_are_vacuumed_keeping_the_last_error(self):
        account = self.make_account()
        Log = self.env["crm.mail.fetch.log"]
        old = fields.Datetime.now() - timedelta(days=60)
        old_ok = Log.create({"account_id": account.id, "date": old})
        older_error = Log.create(
            {"account_id": account.id, "date": old, "error": "first outage"}
        )
        last_error = Log.create(
            {"account_id": account.id, "date": old, "error": "last outage"}
        )
        recent = Log.create({"account_id": account.id})
        Log._gc_fetch_logs()
        self.assertEqual(
            (old_ok | older_error | last_error | recent).exists(), last_error | recent
        )

    def test_22_pop3_run_reads_only_what_the_server_lists(self):
        self.deliver(make_mail(subject="pop"))
        account = self.make_account(protocol="pop3")
        Seen = self.env["crm.mail.pop3.uidl"]

        def queries_of_a_run(forgotten):
            Seen.create(
                [
                    {"account_id": account.id, "uidl": f"gone-{forgotten}-{index}"}
                    for index in range(forgotten)
                ]
            )
            account.last_check = False  # both runs write their check time
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            started = time.monotonic()
            account._fetch_locked()
            return self.env.cr.sql_log_count - before, time.monotonic() - started

        account._fetch_locked()  # the mail is stored; later runs find none
        # a run after one that stored mail (and told its readers) starts
        # with other caches: measured from the second run on
        account._fetch_locked()
        queries_few, _seconds = queries_of_a_run(3)
        queries_many, _seconds = queries_of_a_run(3000)
        self.assertEqual(queries_many, queries_few)
        self.assertEqual(
            Seen.search_count([("account_id", "=", account.id)]),
            1,
            "gone rows forgotten",
        )
