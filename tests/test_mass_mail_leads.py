"""Mass mail as vtiger does it (#23, item 9): from lead lists (each lead's
contact, else the lead's own address), typed extra addresses, a template
on leads rendered for each lead, and *Save Draft* for the whole mailing,
sent later from Drafts. Rights over RPC as the salesperson."""

import base64

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from .test_access_rules import RpcMixin
from .test_send import SendCase, parse, real_smtp


@tagged("post_install", "-at_install")
class TestMassMailLeads(RpcMixin, SendCase, HttpCase):
    def setUp(self):
        super().setUp()
        self.account = self.make_sender()
        Lead = self.env["crm.lead"]
        mine = {"user_id": self.user_sales.id}
        self.leads = Lead.create(
            [
                {"name": "Насосы", "partner_id": self.contact.id, **mine},
                {
                    "name": "Котельная",
                    "contact_name": "Пётр",
                    "email_from": "petr@newco.example",
                    **mine,
                },
                {"name": "Без адреса", **mine},
            ]
        )
        self.template = self.env["mail.template"].create(
            {
                "name": "Lead offer",
                "model_id": self.env.ref("crm.model_crm_lead").id,
                "subject": "Предложение: {{ object.name }}",
                "body_html": "<p>По сделке <t t-out='object.name'/></p>",
            }
        )

    def mailing_form(self):
        action = self.leads.with_user(self.user_sales).action_crm_mail_mass_compose()
        form = self.composer(**action["context"])
        self.assertEqual(form.composition_mode, "mass")
        form.extra_addresses = "extra@other.example, ivan@romashka.example"
        form.subject = "Предложение"
        form.template_id = self.template
        # the lead without an address is left out, Ivan counted once
        self.assertEqual(form.recipient_count, 3)
        return form

    def test_mass_mail_from_leads_with_a_lead_template(self):
        wizard = self.mailing_form().save()
        result = wizard.action_send()
        queued = self.env["crm.mail.message"].search(result["domain"])
        self.assertEqual(len(queued), 3)
        by_to = {mail.email_to.split("<")[-1].strip(">"): mail for mail in queued}
        pumps = by_to["ivan@romashka.example"]
        boiler = by_to["petr@newco.example"]
        extra = by_to["extra@other.example"]
        self.assertIn("Пётр", boiler.email_to)
        self.assertEqual(pumps.lead_id, self.leads[0])
        self.assertEqual(pumps.contact_id, self.contact)
        self.assertEqual(boiler.lead_id, self.leads[1])
        self.assertFalse(extra.lead_id)
        self.assertTrue(pumps.subject.startswith("Предложение: Насосы"))
        self.assertTrue(boiler.subject.startswith("Предложение: Котельная"))
        self.assertEqual(extra.subject, "Предложение")
        with real_smtp():
            self.env["crm.mail.message"]._cron_send_mail()
        received = self.peer.received()
        self.assertEqual(len(received), 3)
        for item in received:
            self.assertEqual(len(item["rcpt_tos"]), 1, "nobody sees the others")
        bodies = {
            item["rcpt_tos"][0]: parse(item["data"]).get_body(("html",)).get_content()
            for item in received
        }
        self.assertIn("По сделке Котельная", bodies["petr@newco.example"])

    def test_save_draft_keeps_the_mailing_for_later(self):
        wizard = self.mailing_form().save()
        result = wizard.action_save_draft()
        drafts = self.env["crm.mail.message"].search(result["domain"])
        self.assertEqual(len(drafts), 3)
        self.assertEqual(set(drafts.mapped("state")), {"draft"})
        self.assertEqual(drafts.author_user_id, self.user_sales)
        self.assertFalse(self.peer.received())
        # a colleague cannot send (nor see) them
        other = new_test_user(
            self.env,
            login="crm_mail_other_sales",
            groups="sales_team.group_sale_salesman",
        )
        self.grant(self.account, other, out_send=True)
        self.login(other)
        _result, error = self.call("crm.mail.message", "action_send_drafts", drafts.ids)
        self.assertIn("AccessError", error)
        self.assertEqual(set(drafts.mapped("state")), {"draft"})
        # the author sends the lot from Drafts
        self.login(self.user_sales)
        _result, error = self.call("crm.mail.message", "action_send_drafts", drafts.ids)
        self.assertIsNone(error)
        self.assertEqual(set(drafts.mapped("state")), {"outgoing"})
        with real_smtp():
            self.env["crm.mail.message"]._cron_send_mail()
        self.assertEqual(len(self.peer.received()), 3)

    def test_a_typed_address_that_is_none_is_refused(self):
        form = self.mailing_form()
        form.extra_addresses = "extra@other.example, not an address"
        wizard = form.save()
        with self.assertRaisesRegex(Exception, "not an address"):
            wizard.action_send()
        self.assertFalse(
            self.env["crm.mail.message"].search([("account_id", "=", self.account.id)])
        )

    def test_a_mailing_to_nobody_keeps_nothing_and_loses_nothing(self):
        action = self.leads[2:].with_user(self.user_sales).action_crm_mail_compose()
        form = self.composer(
            default_lead_ids=self.leads[2:].ids, default_composition_mode="mass"
        )
        self.assertTrue(action)
        form.subject = "Никому"
        wizard = form.save()
        upload = (
            self.env["ir.attachment"]
            .with_user(self.user_sales)
            .create(
                {
                    "name": "offer.pdf",
                    "datas": base64.b64encode(b"%PDF offer"),
                    "res_model": "crm.mail.compose",
                    "res_id": wizard.id,
                }
            )
        )
        wizard.attachment_ids = upload
        with self.assertRaisesRegex(UserError, "e-mail address"):
            wizard.action_save_draft()
        self.assertTrue(upload.exists())

    def test_send_drafts_checks_as_the_composer_and_copies_the_author(self):
        self.account.bcc_author = True
        self.user_sales.email = "anna@crm.test"
        Message = self.env["crm.mail.message"].with_user(self.user_sales)
        single = Message.create(
            {
                "account_id": self.account.id,
                "direction": "outgoing",
                "state": "draft",
                "subject": "Одно письмо",
                "email_to": "ivan@romashka.example",
            }
        )
        mass = self.env["crm.mail.message"].search(
            self.mailing_form().save().action_save_draft()["domain"]
        )
        bad = Message.create(
            {
                "account_id": self.account.id,
                "direction": "outgoing",
                "state": "draft",
                "subject": "Плохой адрес",
                "email_to": "ivan@romashka.example, not an address",
            }
        )
        with self.assertRaisesRegex(UserError, "not an e-mail address"):
            bad.action_send_drafts()
        self.assertEqual(bad.state, "draft")
        # a mail administrator sends nobody else's drafts
        with self.assertRaises(AccessError):
            single.with_user(self.user_admin_mail).action_send_drafts()
        (single | mass).with_user(self.user_sales).action_send_drafts()
        self.assertEqual(single.email_bcc, "anna@crm.test")
        self.assertEqual(set(mass.mapped("email_bcc")), {False})
        self.assertEqual(set((single | mass).mapped("state")), {"outgoing"})

    def test_mail_is_filed_only_into_leads_the_user_reads(self):
        theirs = self.env["crm.lead"].create(
            {"name": "Чужая сделка", "user_id": self.env.ref("base.user_admin").id}
        )
        mail = (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                {
                    "account_id": self.account.id,
                    "direction": "incoming",
                    "subject": "Входящее",
                    "email_from": "x@client.example",
                }
            )
        )
        self.account.access_ids.filtered(
            lambda line: line.user_id == self.user_sales
        ).write({"in_read": True, "in_write": True})
        self.login(self.user_sales)
        _result, error = self.call(
            "crm.mail.message", "write", mail.ids, {"lead_id": theirs.id}
        )
        self.assertIn("AccessError", error)
        self.assertFalse(mail.lead_id)
        _result, error = self.call(
            "crm.mail.message",
            "create",
            {
                "account_id": self.account.id,
                "direction": "outgoing",
                "state": "draft",
                "subject": "Подброшено",
                "lead_id": theirs.id,
            },
        )
        self.assertIn("AccessError", error)
        self.assertFalse(
            self.env["crm.mail.message"].search([("lead_id", "=", theirs.id)])
        )
