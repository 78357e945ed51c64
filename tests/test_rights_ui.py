"""Screens that know the user's rights (#21): as a salesperson who may only
read a shared mailbox ("own documents only" in Sales), over RPC, every
visible button works or says why in words, never Odoo's generic error."""

import json

from odoo.tests import HttpCase, tagged

from .test_access_rules import AccessFixture, RpcMixin

GENERIC = "top-secret"


@tagged("post_install", "-at_install")
class TestRightsOnScreen(RpcMixin, AccessFixture, HttpCase):
    """A reads X's incoming mail; B manages X's incoming rights and owns a
    lead; A may not edit X's mail."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()
        Message = cls.env["crm.mail.message"].sudo()
        cls.lead_b = cls.env["crm.lead"].create(
            {
                "name": "B's deal",
                "user_id": cls.user_b.id,
                "partner_id": cls.customer.id,
            }
        )
        cls.unlinked = Message.create(
            {"account_id": cls.x.id, "direction": "incoming", "subject": "no link"}
        )
        cls.on_b_lead = Message.create(
            {
                "account_id": cls.x.id,
                "direction": "incoming",
                "subject": "on B's lead",
                "partner_id": cls.customer.id,
                "lead_id": cls.lead_b.id,
            }
        )
        cls.other = cls.env["res.partner"].create(
            {"name": "Vasilek", "is_company": True}
        )

    def error_of(self, model, method, *args, **kwargs):
        """The error's class and message of a refused JSON-RPC call."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {
                "model": model,
                "method": method,
                "args": list(args),
                "kwargs": kwargs,
            },
        }
        body = self.url_open(
            "/web/dataset/call_kw",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        ).json()
        self.assertIn("error", body, f"{method} must be refused")
        data = body["error"]["data"]
        self.assertNotIn(GENERIC, data["message"])
        return data["name"], data["message"]

    def test_link_an_unlinked_mail_needs_only_reading_it(self):
        self.login(self.user_a)
        self.assert_allowed("crm.mail.message", "action_link_to", [self.unlinked.id])
        wizard = self.assert_allowed(
            "crm.mail.link.wizard",
            "create",
            {"message_ids": [self.unlinked.id], "partner_id": self.customer.id},
        )
        self.assert_allowed("crm.mail.link.wizard", "action_apply", [wizard])
        self.assertEqual(self.unlinked.partner_id, self.customer)
        # replacing a link is an edit of the mail: refused with the reason
        wizard = self.assert_allowed(
            "crm.mail.link.wizard",
            "create",
            {"message_ids": [self.unlinked.id], "partner_id": self.other.id},
        )
        _name, message = self.error_of("crm.mail.link.wizard", "action_apply", [wizard])
        self.assertIn("needs the right to edit the mail of X", message)
        self.assertEqual(self.unlinked.partner_id, self.customer)

    def test_the_mail_form_knows_what_the_reader_may_do(self):
        self.login(self.user_a)
        (values,) = self.assert_allowed(
            "crm.mail.message", "read", [self.on_b_lead.id], ["can_relink", "can_work"]
        )
        self.assertFalse(values["can_relink"], "links are read-only to a reader")
        self.assertTrue(values["can_work"], "the customer is his to work on")

    def test_note_and_activity_go_where_the_user_may_write(self):
        self.login(self.user_a)
        defaults = self.assert_allowed(
            "crm.mail.log.note.wizard",
            "default_get",
            ["target", "record_names"],
            context={"default_message_ids": [self.on_b_lead.id]},
        )
        self.assertEqual(defaults["target"], "partner", "B's lead is B's")
        wizard = self.assert_allowed(
            "crm.mail.log.note.wizard",
            "create",
            {"message_ids": [self.on_b_lead.id], "target": "lead"},
        )
        (names,) = self.assert_allowed(
            "crm.mail.log.note.wizard", "read", [wizard], ["record_names"]
        )
        self.assertEqual(names["record_names"], "B's deal")
        _name, message = self.error_of(
            "crm.mail.log.note.wizard", "action_apply", [wizard]
        )
        self.assertIn("belongs to B", message)
        action = self.assert_allowed(
            "crm.mail.message", "action_schedule_activity", [self.on_b_lead.id]
        )
        self.assertEqual(action["context"]["active_model"], "res.partner")
        self.assertEqual(action["context"]["active_id"], self.customer.id)

    def test_a_shared_account_is_read_only_to_its_readers(self):
        self.login(self.user_a)
        (values,) = self.assert_allowed(
            "crm.mail.account", "read", [self.x.id], ["can_edit", "can_manage_rights"]
        )
        self.assertEqual(
            values, {"id": self.x.id, "can_edit": False, "can_manage_rights": False}
        )
        _name, message = self.error_of(
            "crm.mail.account", "write", [self.x.id], {"name": "Mine"}
        )
        self.assertIn("Only the owner of X or a mail administrator", message)
        # B manages the rights: a button opens the lines he may edit
        self.login(self.user_b)
        (values,) = self.assert_allowed(
            "crm.mail.account", "read", [self.x.id], ["can_edit", "can_manage_rights"]
        )
        self.assertTrue(values["can_manage_rights"])
        action = self.assert_allowed(
            "crm.mail.account", "action_manage_rights", [self.x.id]
        )
        self.assertEqual(action["domain"], [["account_id", "=", self.x.id]])
        (line_a,) = self.x.access_ids.filtered(lambda line: line.user_id == self.user_a)
        self.assert_allowed(
            "crm.mail.account.access", "write", [line_a.id], {"in_write": True}
        )
        self.assertTrue(line_a.in_write)

    def test_a_reader_downloads_a_quarantined_original(self):
        raw = b"From: broken\r\nSubject: =?bad?=\r\n\r\n\xff\xfe body"
        Message = self.env["crm.mail.message"].sudo()
        Message._quarantine(self.x, raw, {"pop3_uidl": "q-1"}, "Cannot be read")
        mail = Message.search([("pop3_uidl", "=", "q-1")])
        self.assertEqual(mail.state, "quarantined")
        self.login(self.user_a)
        action = self.assert_allowed(
            "crm.mail.message", "action_download_original", [mail.id]
        )
        self.assertEqual(self.url_open(action["url"]).content, raw)
        self.login(self.user_c)  # no right on X
        self.assert_denied("crm.mail.message", "action_download_original", [mail.id])

    def test_check_mail_and_new_mail_from_the_inbox(self):
        self.login(self.user_a)
        self.env["ir.cron.trigger"].search([]).unlink()
        action = self.assert_allowed("crm.mail.message", "action_check_mail", [])
        self.assertIn("X", action["params"]["message"])
        crons = self.env["crm.mail.account"]._fetch_crons().filtered("active")
        triggered = self.env["ir.cron.trigger"].search([("cron_id", "in", crons.ids)])
        self.assertTrue(triggered, "the fetch runs now, in the background")
        action = self.assert_allowed("crm.mail.message", "action_new_mail", [])
        self.assertEqual(action["res_model"], "crm.mail.compose")
