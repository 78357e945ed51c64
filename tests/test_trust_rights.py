"""Trust, round 2 (issue #18, items 1-6): what a low-rights user can reach
over RPC. Each test names the item it covers."""

import psycopg2

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import make_mail
from .test_access_rules import AccessFixture, RpcMixin

#: fields only the mail server (the fetch, the send) sets
SERVER_VALUES = {
    "imap_uid": 7,
    "imap_uidvalidity": 1,
    "pop3_uidl": "UID7",
    "dedupe_key": "<future@client.example>",
    "message_id": "<future@client.example>",
    "server_deleted": True,
    "email_from": "ceo@crm.test",
    "in_reply_to": "<other@client.example>",
    "size": 1,
}


@tagged("post_install", "-at_install")
class TestTrustRights(RpcMixin, AccessFixture, HttpCase):
    """A: reads X's incoming mail; B: manages X's incoming rights;
    C: owns Z; D: may only send from X; E: no rights line."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()
        cls.user_e = new_test_user(
            cls.env,
            login="mailuser_e",
            groups="sales_team.group_sale_salesman",
            name="E",
        )
        cls.folder_x = cls.env["crm.mail.folder"].create(
            {"account_id": cls.x.id, "name": "INBOX", "uidvalidity": 1}
        )
        cls.x.sudo().smtp_host = "smtp.invalid"

    def line(self, account, user):
        return account.access_ids.filtered(lambda r: r.user_id == user)

    def draft_vals(self, **vals):
        return {
            "account_id": self.x.id,
            "direction": "outgoing",
            "state": "draft",
            "subject": "offer",
            **vals,
        }

    # ------------------------------------------------------------
    # 1. server bookkeeping fields are the server's
    # ------------------------------------------------------------

    def test_01_server_fields_refused_on_create_and_write(self):
        self.login(self.user_d)
        for name, value in SERVER_VALUES.items():
            with self.subTest(create=name):
                self.assert_denied(
                    "crm.mail.message", "create", self.draft_vals(**{name: value})
                )
        with self.subTest(create="folder_id"):
            self.assert_denied(
                "crm.mail.message",
                "create",
                self.draft_vals(folder_id=self.folder_x.id),
            )
        draft_id = self.assert_allowed("crm.mail.message", "create", self.draft_vals())
        for name, value in {**SERVER_VALUES, "folder_id": self.folder_x.id}.items():
            with self.subTest(write=name):
                self.assert_denied(
                    "crm.mail.message", "write", [draft_id], {name: value}
                )
        draft = self.env["crm.mail.message"].browse(draft_id)
        # the server side fills what the user may not: a fresh Message-ID,
        # the account's own address, no server position
        self.assertTrue(draft.message_id.endswith("@crm.test>"))
        self.assertEqual(draft.dedupe_key, draft.message_id)
        self.assertEqual(draft.email_from, "x@crm.test")
        self.assertFalse(draft.imap_uid or draft.folder_id or draft.pop3_uidl)
        # and what he may write, he writes
        self.assert_allowed(
            "crm.mail.message",
            "write",
            [draft_id],
            {"subject": "offer v2", "email_to": "ivan@client.example"},
        )
        self.assertEqual(draft.subject, "offer v2")

    def test_01_unlinking_a_draft_deletes_nothing_on_the_server(self):
        """A draft (even one that somehow carries a server position) is not
        a server mail: deleting it never queues a deletion on the server."""
        self.x.sudo().delete_on_server_with_record = True
        planted = (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                self.draft_vals(
                    author_user_id=self.user_d.id,
                    folder_id=self.folder_x.id,
                    imap_uid=42,
                    imap_uidvalidity=1,
                )
            )
        )
        self.login(self.user_d)
        self.assert_allowed("crm.mail.message", "unlink", [planted.id])
        self.assertFalse(planted.exists())
        self.assertFalse(
            self.env["crm.mail.server.action"].search([("account_id", "=", self.x.id)])
        )

    # ------------------------------------------------------------
    # 2. a colleague's outgoing mail is his
    # ------------------------------------------------------------

    def test_02_no_rewriting_a_colleagues_queued_or_failed_mail(self):
        self.line(self.x, self.user_a).write({"out_read": True, "out_write": True})
        Message = self.env["crm.mail.message"].sudo()
        queued = Message.create(
            self.draft_vals(state="outgoing", author_user_id=self.user_d.id)
        )
        failed = Message.create(
            self.draft_vals(state="error", author_user_id=self.user_d.id)
        )
        self.login(self.user_a)
        for mail in (queued, failed):
            for vals in (
                {"email_to": "victim@example.com"},
                {"email_bcc": "spy@example.com"},
                {"body_html": "<p>pay to IBAN ...</p>"},
                {"subject": "urgent"},
                {"state": "draft"},
            ):
                with self.subTest(state=mail.state, vals=vals):
                    self.assert_denied("crm.mail.message", "write", [mail.id], vals)
        self.assertEqual((queued.subject, failed.email_to), ("offer", False))
        # the author himself, once he may no longer send from X: read-only
        self.line(self.x, self.user_d).out_send = False
        self.login(self.user_d)
        self.assert_denied(
            "crm.mail.message", "write", [failed.id], {"body_html": "<p>x</p>"}
        )
        self.line(self.x, self.user_d).out_send = True
        self.assert_allowed(
            "crm.mail.message", "write", [failed.id], {"body_html": "<p>v2</p>"}
        )

    # ------------------------------------------------------------
    # 3. rights-line guards count every flag
    # ------------------------------------------------------------

    def test_03_rights_lines_count_defaults_and_the_whole_line(self):
        # A manages the outgoing rights of X only
        self.line(self.x, self.user_a).write({"in_read": True, "out_manage": True})
        self.login(self.user_a)
        Access = "crm.mail.account.access"
        # no flags given: Read Incoming comes by default, which A may not grant
        self.assert_denied(
            Access, "create", {"account_id": self.x.id, "user_id": self.user_e.id}
        )
        line_id = self.assert_allowed(
            Access,
            "create",
            {
                "account_id": self.x.id,
                "user_id": self.user_e.id,
                "in_read": False,
                "out_read": True,
            },
        )
        self.assertTrue(line_id)
        # B manages incoming rights: D's line carries outgoing rights, which
        # B may not hand to somebody else by changing its user
        line_d = self.line(self.x, self.user_d)
        self.login(self.user_b)
        self.assert_denied(Access, "write", [line_d.id], {"user_id": self.user_e.id})
        self.assertEqual(line_d.user_id, self.user_d)
        # nor give a line to himself
        self.assert_denied(
            Access,
            "write",
            [self.line(self.x, self.user_a).id],
            {"user_id": self.user_b.id},
        )

    # ------------------------------------------------------------
    # 4. the owner cannot redirect an administrator's secret
    # ------------------------------------------------------------

    def test_04_changing_the_server_clears_the_secrets(self):
        self.z.sudo().write(
            {"smtp_host": "smtp.invalid", "smtp_password": "smtp-secret"}
        )
        self.login(self.user_c)
        for vals in (
            {"incoming_host": "imap.attacker.example"},
            {"incoming_port": 1993},
            {"verify_certificate": False},
            {"login": "someone@else.example"},
            {"smtp_host": "smtp.attacker.example"},
            {"smtp_security": "starttls"},
        ):
            with self.subTest(vals=vals):
                self.z.sudo().write({"password": "secret-pw", "smtp_password": "s"})
                self.assert_allowed("crm.mail.account", "write", [self.z.id], vals)
                self.assertFalse(self.z.sudo().password, "the secret stays home")
                self.assertFalse(self.z.sudo().smtp_password)
        # a new password typed with the new host is kept
        self.assert_allowed(
            "crm.mail.account",
            "write",
            [self.z.id],
            {"incoming_host": "imap.mine.example", "password_input": "mine"},
        )
        self.assertEqual(self.z.sudo().password, "mine")
        # an unchanged value (a form saving what it shows) changes nothing
        self.z.sudo().password = "secret-pw"
        self.assert_allowed(
            "crm.mail.account",
            "write",
            [self.z.id],
            {"incoming_host": "imap.mine.example", "name": "Z2"},
        )
        self.assertEqual(self.z.sudo().password, "secret-pw")
        # an administrator moves the server and keeps the secret
        self.x.with_user(
            self.env.ref("base.user_admin")
        ).incoming_host = "imap2.invalid"
        self.assertEqual(self.x.sudo().password, "secret-pw")

    # ------------------------------------------------------------
    # 5. incoming metadata needs the incoming read right
    # ------------------------------------------------------------

    def test_05_fetch_logs_and_rules_need_incoming_read(self):
        log = self.env["crm.mail.fetch.log"].create(
            {"account_id": self.x.id, "details": "blacklisted: boss@rival.example"}
        )
        Rule = self.env["crm.mail.rule"]
        rule_x = Rule.create(
            {
                "name": "VIP of X",
                "account_id": self.x.id,
                "condition_ids": [
                    (0, 0, {"field": "from", "operator": "contains", "value": "vip@"})
                ],
            }
        )
        rule_global = Rule.create(
            {
                "name": "Global",
                "condition_ids": [
                    (
                        0,
                        0,
                        {"field": "subject", "operator": "contains", "value": "tender"},
                    )
                ],
            }
        )
        conditions = (rule_x | rule_global).condition_ids
        expected = {
            self.user_d: (False, False),  # sends from X, reads nothing
            self.user_e: (False, False),
            self.user_a: (True, True),  # reads X's incoming mail
        }
        for user, (sees_log, sees_rules) in expected.items():
            with self.subTest(user=user.name):
                self.login(user)
                logs, _error = self.call(
                    "crm.mail.fetch.log",
                    "search_read",
                    [("id", "=", log.id)],
                    fields=["details"],
                )
                self.assertEqual(bool(logs), sees_log)
                rules, _error = self.call(
                    "crm.mail.rule",
                    "search_read",
                    [("id", "in", (rule_x | rule_global).ids)],
                    fields=["name"],
                )
                self.assertEqual(len(rules or []), 2 if sees_rules else 0)
                found, _error = self.call(
                    "crm.mail.rule.condition",
                    "search_read",
                    [("id", "in", conditions.ids)],
                    fields=["value"],
                )
                self.assertEqual(len(found or []), 2 if sees_rules else 0)
                if not sees_log:
                    self.assert_denied(
                        "crm.mail.fetch.log", "read", [log.id], ["details"]
                    )
                    self.assert_denied("crm.mail.rule", "read", [rule_x.id], ["name"])

    # ------------------------------------------------------------
    # 6. threads stay within what the same people may read
    # ------------------------------------------------------------

    def test_06_no_thread_across_mailboxes(self):
        lead = self.env["crm.lead"].create({"name": "Secret deal of X"})
        self.x_in.sudo().write(
            {"message_id": "<deal@client.example>", "lead_id": lead.id}
        )
        raw = make_mail(
            subject="Re: deal",
            headers={"In-Reply-To": "<deal@client.example>"},
        )
        Message = self.env["crm.mail.message"].sudo()
        outcome, _detail = Message._ingest_raw(self.y.sudo(), raw, {})
        self.assertEqual(outcome, "stored")
        answer = Message.search(
            [("account_id", "=", self.y.id)], order="id desc", limit=1
        )
        self.assertFalse(answer.parent_id, "X's mail is not Y's thread")
        self.assertFalse(answer.lead_id, "nor is X's lead")
        # within one account the thread is kept
        outcome, _detail = Message._ingest_raw(self.x.sudo(), raw, {})
        answer_x = Message.search(
            [("account_id", "=", self.x.id)], order="id desc", limit=1
        )
        self.assertEqual(answer_x.parent_id, self.x_in)

    def test_06_unreadable_parent_shows_no_subject(self):
        """A reads X's incoming mail, not its outgoing mail: the answer's
        parent (our own offer) is named without its subject."""
        self.x_out.sudo().subject = "Price list: 20% discount for Romashka"
        self.x_in.sudo().write(
            {"parent_id": self.x_out.id, "thread_root_id": self.x_out.id}
        )
        self.login(self.user_a)
        (read,) = self.assert_allowed(
            "crm.mail.message", "read", [self.x_in.id], ["parent_id", "thread_root_id"]
        )
        self.assertNotIn("20%", str(read))
        (web,) = self.assert_allowed(
            "crm.mail.message",
            "web_read",
            [self.x_in.id],
            specification={
                "parent_id": {"fields": {"display_name": {}}},
                "thread_root_id": {"fields": {"display_name": {}}},
            },
        )
        self.assertNotIn("20%", str(web))
        # the one who may read it sees its subject
        self.login(self.user_c)
        self.x_out.sudo().author_user_id = self.user_c
        (own,) = self.assert_allowed(
            "crm.mail.message",
            "web_read",
            [self.x_out.id],
            specification={"display_name": {}},
        )
        self.assertIn("20%", own["display_name"])

    # ------------------------------------------------------------
    # found by review: attachments and context defaults
    # ------------------------------------------------------------

    def test_02_attachments_of_a_colleagues_mail_are_his(self):
        self.line(self.x, self.user_a).write(
            {"out_read": True, "out_write": True, "in_write": True}
        )
        Message = self.env["crm.mail.message"].sudo()
        queued = Message.create(
            self.draft_vals(state="outgoing", author_user_id=self.user_d.id)
        )
        Attachment = self.env["ir.attachment"]
        quote = Attachment.create(
            {
                "name": "quote.pdf",
                "raw": b"%PDF quote",
                "res_model": "crm.mail.message",
                "res_id": queued.id,
            }
        )
        original = Attachment.create(
            {
                "name": "original.eml",
                "raw": b"From: x",
                "res_model": "crm.mail.message",
                "res_id": self.x_in.id,
            }
        )
        self.login(self.user_a)
        self.assert_denied(
            "ir.attachment",
            "create",
            {
                "name": "invoice.exe",
                "datas": "TVo=",
                "res_model": "crm.mail.message",
                "res_id": queued.id,
            },
        )
        self.assert_denied("ir.attachment", "write", [quote.id], {"datas": "TVo="})
        self.assert_denied("ir.attachment", "unlink", [original.id])
        self.assertEqual(quote.raw, b"%PDF quote")
        self.assertTrue(original.exists())
        # the author adds a file to his own unsent mail
        self.login(self.user_d)
        self.assert_allowed(
            "ir.attachment",
            "create",
            {
                "name": "terms.pdf",
                "datas": "JVBERg==",
                "res_model": "crm.mail.message",
                "res_id": queued.id,
            },
        )

    def test_01_context_defaults_set_no_server_field(self):
        self.login(self.user_d)
        draft_id = self.assert_allowed(
            "crm.mail.message",
            "create",
            self.draft_vals(),
            context={
                "default_imap_uid": 7,
                "default_folder_id": self.folder_x.id,
                "default_pop3_uidl": "UID7",
                "default_server_deleted": True,
            },
        )
        draft = self.env["crm.mail.message"].browse(draft_id)
        self.assertFalse(
            draft.imap_uid or draft.folder_id or draft.pop3_uidl or draft.server_deleted
        )

    # ------------------------------------------------------------
    # #23.1 the responsible sees his mail
    # ------------------------------------------------------------

    def test_23_the_responsible_reads_the_mail_assigned_to_him(self):
        """E has no rights line on X: he reads (and only reads) the mail
        whose Responsible he is, set by hand or as a lead's salesperson."""
        self.login(self.user_e)
        self.assert_denied("crm.mail.message", "read", [self.x_in.id], ["subject"])
        self.x_in.sudo().user_id = self.user_e
        (row,) = self.assert_allowed(
            "crm.mail.message", "read", [self.x_in.id], ["subject"]
        )
        self.assertEqual(row["subject"], "x in")
        found = self.assert_allowed(
            "crm.mail.message", "search", [("account_id", "=", self.x.id)]
        )
        self.assertEqual(found, [self.x_in.id])
        self.assert_denied(
            "crm.mail.message", "write", [self.x_in.id], {"partner_id": False}
        )
        # the salesperson of a lead made from a mail becomes its responsible
        mail = (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                {
                    "account_id": self.x.id,
                    "direction": "incoming",
                    "subject": "lead me",
                    "email_from": "new@client.example",
                }
            )
        )
        mail.with_context(default_user_id=self.user_e.id)._make_leads()
        self.assertEqual(mail.lead_id.user_id, self.user_e)
        self.assertEqual(mail.user_id, self.user_e)
        self.login(self.user_e)
        self.assert_allowed("crm.mail.message", "read", [mail.id], ["subject"])

    # ------------------------------------------------------------
    # #23.2 rights for a sales team or a user group
    # ------------------------------------------------------------

    def test_23_rights_lines_for_a_team_and_a_group(self):
        """One line for a 30-person department: a sales team's members or a
        group's users have its rights, no more, for as long as they belong."""
        Access = self.env["crm.mail.account.access"]
        team = self.env["crm.team"].create({"name": "Отдел продаж"})
        member = self.env["crm.team.member"].create(
            {"crm_team_id": team.id, "user_id": self.user_e.id}
        )
        Access.create({"account_id": self.x.id, "team_id": team.id, "role": "reader"})
        self.login(self.user_e)
        (row,) = self.assert_allowed(
            "crm.mail.message", "read", [self.x_in.id], ["subject"]
        )
        self.assertEqual(row["subject"], "x in")
        self.assert_denied("crm.mail.message", "read", [self.x_out.id], ["subject"])
        self.assert_denied("crm.mail.message", "read", [self.y_in.id], ["subject"])
        # he sees the line that gives it, and cannot change it
        lines = self.assert_allowed(
            "crm.mail.account.access",
            "search_read",
            [("team_id", "=", team.id)],
            ["id"],
        )
        self.assertEqual(len(lines), 1)
        self.assert_denied(
            "crm.mail.account.access", "write", [lines[0]["id"]], {"in_write": True}
        )
        # out of the team: out of the mail
        member.unlink()
        self.assert_denied("crm.mail.message", "read", [self.x_in.id], ["subject"])

        group = self.env["res.groups"].create(
            {"name": "Читатели почты", "users": [(4, self.user_e.id)]}
        )
        Access.create({"account_id": self.y.id, "group_id": group.id, "role": "sender"})
        self.y.sudo().smtp_host = "smtp.invalid"
        self.assert_allowed("crm.mail.message", "read", [self.y_in.id], ["subject"])
        Account = self.env["crm.mail.account"].with_user(self.user_e)
        self.assertIn(self.y, Account.search(Account._sendable_domain()))
        group.users = [(3, self.user_e.id)]
        self.assert_denied("crm.mail.message", "read", [self.y_in.id], ["subject"])

    def test_23_a_line_names_exactly_one_holder(self):
        Access = self.env["crm.mail.account.access"]
        team = self.env["crm.team"].create({"name": "Команда"})
        with self.assertRaises(psycopg2.IntegrityError), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                Access.create(
                    {
                        "account_id": self.y.id,
                        "user_id": self.user_e.id,
                        "team_id": team.id,
                    }
                )
        with self.assertRaises(psycopg2.IntegrityError), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                Access.create({"account_id": self.y.id})
        with self.assertRaises(ValidationError):
            Access.create(
                {"account_id": self.y.id, "team_id": team.id, "out_default": True}
            )

    def test_23_team_lines_and_responsibles_are_not_self_service(self):
        """Review of #23: whoever edits a team's members would give himself
        a team line's rights, and the responsible reads the mail: both are
        given by those who may give rights."""
        team = self.env["crm.team"].create({"name": "Своя команда"})
        # B manages X's incoming rights, yet no team line from him
        self.login(self.user_b)
        self.assert_denied(
            "crm.mail.account.access",
            "create",
            {"account_id": self.x.id, "team_id": team.id, "in_read": True},
        )
        # A only reads X: he cannot make himself (or anybody) responsible
        self.x.access_ids.filtered(lambda r: r.user_id == self.user_a).sudo().write(
            {"in_write": True}
        )
        self.login(self.user_a)
        self.assert_denied(
            "crm.mail.message", "write", [self.x_in.id], {"user_id": self.user_e.id}
        )
        # B, who manages X's rights (and edits its mail), may
        self.x.access_ids.filtered(lambda r: r.user_id == self.user_b).sudo().write(
            {"in_write": True}
        )
        self.login(self.user_b)
        self.assert_allowed(
            "crm.mail.message", "write", [self.x_in.id], {"user_id": self.user_e.id}
        )
