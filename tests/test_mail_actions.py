import base64

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestMailActions(MailServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_romashka()
        sales = "sales_team.group_sale_salesman"
        cls.user_writer = new_test_user(
            cls.env, login="crm_mail_writer", groups=sales, name="Writer"
        )
        cls.user_stranger = new_test_user(
            cls.env, login="crm_mail_stranger", groups=sales, name="Stranger"
        )
        cls.tag = cls.env.ref("crm_mail_client.res_partner_category_from_mail")

    def setUp(self):
        super().setUp()
        self.account = self.make_account()
        # user_sales reads the incoming mail only; user_writer may relink it
        self.grant(self.account, self.user_sales, in_read=True)
        self.grant(self.account, self.user_writer, in_read=True, in_write=True)

    def mail(self, **vals):
        return (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                {
                    "account_id": self.account.id,
                    "direction": "incoming",
                    "subject": "Price request",
                    "email_from": "ivan@romashka.example",
                    "from_name": "Ivan Petrov",
                    "email_to": self.mailbox,
                    "body_text": "Please send the prices for 100 chairs.",
                    "body_html": "<p>Please send the prices for 100 chairs.</p>",
                    **vals,
                }
            )
        )

    def known_mail(self, **vals):
        return self.mail(contact_id=self.ivan.id, partner_id=self.romashka.id, **vals)

    def unknown_mail(self, sender="oleg@stroy-trest.example", name="Oleg Smirnov"):
        return self.mail(email_from=sender, from_name=name, subject=f"Hi from {name}")

    def attach(self, mail, name="offer.pdf", data=b"%PDF-1.4 offer", mimetype=None):
        return self.env["ir.attachment"].create(
            {
                "name": name,
                "datas": base64.b64encode(data),
                "mimetype": mimetype or "application/pdf",
                "res_model": "crm.mail.message",
                "res_id": mail.id,
            }
        )

    def as_user(self, mails, user=None):
        return mails.with_user(user or self.user_sales)

    def mail_mail_count(self):
        return self.env["mail.mail"].sudo().search_count([])

    def lead_notes(self, lead):
        note = self.env.ref("mail.mt_note")
        return lead.message_ids.filtered(lambda m: m.subtype_id == note)

    # ------------------------------------------------------------
    # CREATE LEAD
    # ------------------------------------------------------------

    def test_leads_are_named_after_who_wrote(self):
        Message = self.env["crm.mail.message"]
        company = self.env.company
        self.assertEqual(
            Message._lead_name("Заказ", self.ivan, "", "", company),
            "Romashka LLC — Заказ",
        )
        self.assertEqual(
            Message._lead_name(
                "Заказ", None, "Oleg", "oleg@stroy-trest.example", company
            ),
            "Stroy-Trest — Заказ",
        )
        self.assertEqual(
            Message._lead_name("", None, "Anna K", "anna.k@gmail.com", company),
            "Anna K — Mail from anna.k@gmail.com",
        )

    def test_create_lead_known_sender(self):
        mail = self.known_mail()
        self.attach(mail)
        self.attach(mail, "original.eml", b"From: x\r\n\r\nraw", "message/rfc822")
        before = self.mail_mail_count()
        action = self.as_user(mail).action_create_lead()
        lead = self.env["crm.lead"].browse(action["res_id"])
        self.assertEqual(action["res_model"], "crm.lead")
        self.assertEqual(lead.name, "Romashka LLC — Price request")
        self.assertEqual(lead.partner_id, self.ivan)
        self.assertEqual(lead.email_from, "ivan@romashka.example")
        self.assertIn("100 chairs", str(lead.description))
        self.assertEqual(mail.lead_id, lead, "the mail is linked to its lead")
        copies = self.env["ir.attachment"].search(
            [("res_model", "=", "crm.lead"), ("res_id", "=", lead.id)]
        )
        self.assertEqual(copies.mapped("name"), ["offer.pdf"], "no original.eml")
        self.assertEqual(copies.raw, b"%PDF-1.4 offer")
        self.assertEqual(
            mail.attachment_ids.mapped("name").count("offer.pdf"),
            1,
            "a copy, not a move",
        )
        notes = self.lead_notes(lead)
        self.assertEqual(len(notes), 1)
        self.assertIn(f"/odoo/crm.mail.message/{mail.id}", notes.body)
        self.assertIn("ivan@romashka.example", notes.body)
        self.assertNotIn("100 chairs", notes.body, "never the body in the chatter")
        self.assertFalse(notes.attachment_ids)
        self.assertEqual(self.mail_mail_count(), before, "no e-mail goes out")
        # the lead's mail tab and count
        self.assertEqual(lead.crm_mail_message_ids, mail)
        self.assertEqual(lead.crm_mail_count, 1)

    def test_create_lead_unknown_senders_one_per_sender(self):
        oleg_1 = self.unknown_mail()
        oleg_2 = self.unknown_mail()
        anna = self.unknown_mail("anna.k@gmail.com", "Anna K")
        mails = oleg_1 | oleg_2 | anna
        action = self.as_user(mails).action_create_lead()
        leads = self.env["crm.lead"].search(action["domain"])
        self.assertEqual(len(leads), 2, "one lead per sender")
        oleg_lead = leads.filtered(lambda lead: lead.email_from == oleg_1.email_from)
        self.assertEqual(oleg_lead.contact_name, "Oleg Smirnov")
        self.assertEqual(oleg_lead.partner_name, "Stroy-Trest")
        self.assertFalse(oleg_lead.partner_id)
        self.assertEqual((oleg_1 | oleg_2).lead_id, oleg_lead)
        anna_lead = leads - oleg_lead
        self.assertEqual(anna_lead.contact_name, "Anna K")
        self.assertFalse(anna_lead.partner_name, "a public domain gives no company")
        self.assertEqual(anna.lead_id, anna_lead)

    def test_create_lead_for_linked_mail_is_a_relink(self):
        other = self.env["crm.lead"].create({"name": "Other deal"})
        mail = self.known_mail(lead_id=other.id)
        with self.assertRaises(AccessError):
            self.as_user(mail).action_create_lead()
        action = self.as_user(mail, self.user_writer).action_create_lead()
        self.assertEqual(mail.lead_id.id, action["res_id"])

    def test_no_read_no_work(self):
        mail = self.known_mail()
        stranger = self.as_user(mail, self.user_stranger)
        with self.assertRaises(AccessError):
            stranger.action_create_lead()
        with self.assertRaises(AccessError):
            stranger.action_schedule_activity()
        with self.assertRaises(AccessError):
            stranger.action_log_note()
        with self.assertRaises(AccessError):
            self.as_user(
                self.unknown_mail(), self.user_stranger
            ).action_create_contact()
        self.assertFalse(
            self.env["crm.lead"].search([("name", "=", "Price request")]),
        )

    # ------------------------------------------------------------
    # UNKNOWN SENDERS: CONTACT, COMPANY + CONTACT
    # ------------------------------------------------------------

    def test_create_contact(self):
        mail = self.unknown_mail()
        self.assertFalse(mail.sender_known)
        action = self.as_user(mail).action_create_contact()
        contact = self.env["res.partner"].browse(action["res_id"])
        self.assertEqual(contact.name, "Oleg Smirnov")
        self.assertEqual(contact.email, "oleg@stroy-trest.example")
        self.assertFalse(contact.parent_id)
        self.assertIn(self.tag, contact.category_id)
        self.assertEqual(mail.contact_id, contact)
        self.assertEqual(mail.partner_id, contact)
        self.assertTrue(mail.sender_known)
        with self.assertRaises(UserError):
            self.as_user(mail).action_create_contact()

    def test_create_company_and_contact(self):
        mails = self.unknown_mail() | self.unknown_mail()
        self.assertFalse(mails[0].sender_public_domain)
        action = self.as_user(mails).action_create_company_contact()
        contact = self.env["res.partner"].browse(action["res_id"])
        company = contact.parent_id
        self.assertEqual(company.name, "Stroy-Trest")
        self.assertTrue(company.is_company)
        self.assertEqual(company.crm_mail_domain, "stroy-trest.example")
        self.assertEqual(mails.contact_id, contact)
        self.assertEqual(mails.partner_id, company)
        # a colleague from the same domain joins the same company
        colleague = self.unknown_mail("petr@stroy-trest.example", "Petr")
        action = self.as_user(colleague).action_create_company_contact()
        self.assertEqual(colleague.partner_id, company)
        self.assertEqual(colleague.contact_id.parent_id, company)

    def test_public_domain_gives_no_company(self):
        mail = self.unknown_mail("anna.k@gmail.com", "Anna K")
        self.assertTrue(mail.sender_public_domain)
        companies = self.env["res.partner"].search_count([("is_company", "=", True)])
        self.as_user(mail).action_create_company_contact()
        self.assertEqual(
            self.env["res.partner"].search_count([("is_company", "=", True)]),
            companies,
        )
        self.assertEqual(mail.contact_id.email, "anna.k@gmail.com")
        self.assertFalse(mail.contact_id.parent_id)
        self.assertEqual(mail.partner_id, mail.contact_id)

    def test_extra_public_domain_from_settings(self):
        self.env.company.crm_mail_public_domains = "stroy-trest.example"
        mail = self.unknown_mail()
        self.assertTrue(mail.sender_public_domain)
        self.as_user(mail).action_create_company_contact()
        self.assertFalse(mail.contact_id.parent_id)

    # ------------------------------------------------------------
    # SCHEDULE ACTIVITY
    # ------------------------------------------------------------

    def test_schedule_activity_on_contact_and_lead(self):
        mail = self.known_mail()
        action = self.as_user(mail).action_schedule_activity()
        self.assertEqual(action["res_model"], "mail.activity.schedule")
        context = action["context"]
        self.assertEqual(context["active_model"], "res.partner")
        self.assertEqual(context["active_ids"], self.ivan.ids)
        self.assertIn("100 chairs", context["default_note"])
        wizard = (
            self.env["mail.activity.schedule"]
            .with_user(self.user_sales)
            .with_context(context)
            .create({})
        )
        wizard.action_schedule_activities()
        activity = self.ivan.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertIn("100 chairs", str(activity.note))
        self.assertEqual(activity.summary, "Price request")
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_sales.id}
        )
        mail.sudo().lead_id = lead
        action = self.as_user(mail).action_schedule_activity()
        self.assertEqual(action["context"]["active_model"], "crm.lead")
        self.assertEqual(action["context"]["active_id"], lead.id)

    def test_schedule_activity_needs_a_record(self):
        with self.assertRaises(UserError):
            self.as_user(self.unknown_mail()).action_schedule_activity()

    # ------------------------------------------------------------
    # LOG NOTE
    # ------------------------------------------------------------

    def test_log_note_on_contact(self):
        mail = self.known_mail()
        self.attach(mail)
        self.ivan.message_subscribe(partner_ids=self.romashka.ids)
        before = self.mail_mail_count()
        old_messages = self.ivan.message_ids
        action = self.as_user(mail).action_log_note()
        self.assertEqual(action["res_model"], "crm.mail.log.note.wizard")
        wizard = Form(
            self.env["crm.mail.log.note.wizard"]
            .with_user(self.user_sales)
            .with_context(action["context"])
        )
        self.assertEqual(wizard.target, "partner")
        self.assertEqual(wizard.record_names, "Romashka LLC, Ivan Petrov")
        wizard.save().action_apply()
        note = self.ivan.message_ids - old_messages
        self.assertEqual(len(note), 1, note.mapped("body"))
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
        self.assertIn("100 chairs", note.body)
        self.assertIn("Price request", note.body)
        self.assertEqual(note.attachment_ids.mapped("name"), ["offer.pdf"])
        self.assertEqual(note.attachment_ids.res_model, "res.partner")
        self.assertEqual(self.mail_mail_count(), before, "no follower is e-mailed")

    def test_log_note_on_lead(self):
        # posting on a lead needs the right to write it: the salesman's lead
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_sales.id}
        )
        mail = self.known_mail(lead_id=lead.id)
        action = self.as_user(mail).action_log_note()
        wizard = (
            self.env["crm.mail.log.note.wizard"]
            .with_user(self.user_sales)
            .with_context(action["context"])
            .create({})
        )
        self.assertEqual(wizard.target, "lead")
        wizard.action_apply()
        notes = self.lead_notes(lead)
        self.assertEqual(len(notes), 2, "the link note and the copy")
        self.assertTrue(any("100 chairs" in n.body for n in notes))

    def test_partner_mail_tab_follows_links_in_the_same_transaction(self):
        self.assertEqual(self.romashka.crm_mail_count, 0)
        self.assertEqual(self.ivan.crm_mail_count, 0)
        mail = self.known_mail()
        self.assertEqual(self.romashka.crm_mail_count, 1)
        self.assertEqual(self.ivan.crm_mail_message_ids, mail)
        other = self.env["res.partner"].create({"name": "Vektor", "is_company": True})
        self.assertEqual(other.crm_mail_count, 0)
        mail.write({"partner_id": other.id, "contact_id": False})
        self.assertEqual(self.romashka.crm_mail_count, 0)
        self.assertEqual(other.crm_mail_message_ids, mail)

    def test_log_note_keeps_remote_images_blocked(self):
        pixel = '<img src="https://track.example/open.gif?id=42" alt="logo">'
        mail = self.known_mail(body_html=f"<p>Prices attached.</p>{pixel}")
        old_messages = self.ivan.message_ids
        action = self.as_user(mail).action_log_note()
        self.env["crm.mail.log.note.wizard"].with_user(self.user_sales).with_context(
            action["context"]
        ).create({}).action_apply()
        note = self.ivan.message_ids - old_messages
        self.assertIn("Prices attached.", note.body)
        self.assertNotIn("track.example", note.body)

    def test_log_note_without_record(self):
        mail = self.unknown_mail()
        wizard = (
            self.env["crm.mail.log.note.wizard"]
            .with_user(self.user_sales)
            .create({"message_ids": mail.ids, "target": "partner"})
        )
        with self.assertRaises(UserError):
            wizard.action_apply()

    # ------------------------------------------------------------
    # LINK TO
    # ------------------------------------------------------------

    def test_bulk_link_to_lead_and_contact(self):
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_writer.id}
        )
        mails = (
            self.unknown_mail() | self.unknown_mail("anna.k@gmail.com") | self.mail()
        )
        action = self.as_user(mails, self.user_writer).action_link_to()
        self.assertEqual(action["res_model"], "crm.mail.link.wizard")
        wizard = Form(
            self.env["crm.mail.link.wizard"]
            .with_user(self.user_writer)
            .with_context(action["context"])
        )
        wizard.lead_id = lead
        wizard.contact_id = self.ivan
        self.assertEqual(wizard.partner_id, self.romashka)
        wizard.save().action_apply()
        self.assertEqual(mails.lead_id, lead)
        self.assertEqual(mails.contact_id, self.ivan)
        self.assertEqual(mails.partner_id, self.romashka)
        notes = self.lead_notes(lead)
        self.assertEqual(len(notes), 1, "one note for the mails linked at once")
        self.assertIn("Mails that joined this lead (3):", notes.body)
        for mail in mails:
            self.assertIn(f"/odoo/crm.mail.message/{mail.id}", notes.body)
        self.assertEqual(lead.crm_mail_count, 3)
        # only what is chosen changes
        other = self.env["crm.lead"].create(
            {"name": "Tables", "user_id": self.user_writer.id}
        )
        self.env["crm.mail.link.wizard"].with_user(self.user_writer).create(
            {"message_ids": mails[:1].ids, "lead_id": other.id}
        ).action_apply()
        self.assertEqual(mails[0].lead_id, other)
        self.assertEqual(mails[0].contact_id, self.ivan)

    def test_relink_needs_write(self):
        mail = self.known_mail()
        lead = self.env["crm.lead"].create({"name": "Chairs"})
        # the wizard opens for a reader (filling an empty link is his);
        # a lead he may not open is not his to link to
        self.as_user(mail).action_link_to()
        wizard = (
            self.env["crm.mail.link.wizard"]
            .with_user(self.user_sales)
            .create({"message_ids": mail.ids, "lead_id": lead.id})
        )
        with self.assertRaises(AccessError):
            wizard.action_apply()
        self.assertFalse(mail.lead_id)

    def test_link_wizard_needs_a_choice(self):
        wizard = (
            self.env["crm.mail.link.wizard"]
            .with_user(self.user_writer)
            .create({"message_ids": self.mail().ids})
        )
        with self.assertRaises(UserError):
            wizard.action_apply()

    # ------------------------------------------------------------
    # MAIL OF A LEAD
    # ------------------------------------------------------------

    def test_lead_send_email_action(self):
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "partner_id": self.ivan.id}
        )
        action = lead.action_crm_mail_compose()
        self.assertEqual(action["res_model"], "crm.mail.compose")
        self.assertEqual(action["target"], "new")
        self.assertEqual(action["context"]["default_lead_id"], lead.id)
        self.assertEqual(action["context"]["default_partner_ids"], self.ivan.ids)

    def test_lead_mail_tab_newest_first_and_rights(self):
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_sales.id}
        )
        old = self.known_mail(lead_id=lead.id, date="2026-01-01 10:00:00")
        new = self.known_mail(lead_id=lead.id, date="2026-02-01 10:00:00")
        self.assertEqual(lead.crm_mail_message_ids.ids, [new.id, old.id])
        action = lead.action_view_crm_mail()
        self.assertEqual(
            self.env["crm.mail.message"].search(action["domain"]), new | old
        )
        lead_as_stranger = lead.with_user(self.user_stranger)
        self.assertEqual(lead_as_stranger.crm_mail_count, 0)
        self.assertFalse(lead_as_stranger.crm_mail_message_ids)

    def test_reply_to_lead_mail_from_other_address(self):
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "partner_id": self.ivan.id}
        )
        lead.message_subscribe(partner_ids=self.ivan.ids)
        message_id = "<lead-offer-1@crm.test>"
        sent = (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                {
                    "account_id": self.account.id,
                    "direction": "outgoing",
                    "state": "sent",
                    "message_id": message_id,
                    "dedupe_key": message_id,
                    "email_from": self.mailbox,
                    "email_to": "ivan@romashka.example",
                    "subject": "Our offer",
                    "lead_id": lead.id,
                }
            )
        )
        self.assertFalse(self.lead_notes(lead), "no note for our own mail")
        self.deliver(
            make_mail(
                subject="Re: Our offer",
                sender="Maria Sidorova <maria@another-firm.example>",
                to=self.mailbox,
                body="We accept the offer.",
                headers={"In-Reply-To": message_id, "References": message_id},
            )
        )
        before = self.mail_mail_count()
        self.account._fetch_locked()
        reply = self.env["crm.mail.message"].search(
            [("account_id", "=", self.account.id), ("direction", "=", "incoming")]
        )
        self.assertEqual(len(reply), 1)
        self.assertEqual(reply.parent_id, sent)
        self.assertEqual(reply.lead_id, lead, "the answer lands on the lead")
        notes = self.lead_notes(lead)
        self.assertEqual(len(notes), 1)
        self.assertIn("maria@another-firm.example", notes.body)
        self.assertIn("Re: Our offer", notes.body)
        self.assertIn(f"/odoo/crm.mail.message/{reply.id}", notes.body)
        self.assertNotIn("We accept", notes.body)
        self.assertEqual(self.mail_mail_count(), before, "followers get no e-mail")
        self.assertEqual(lead.crm_mail_message_ids, reply | sent)

    def test_answer_to_answer_joins_lead(self):
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_sales.id}
        )
        root = self.known_mail(lead_id=lead.id, message_id="<root@x.example>")
        child = self.mail(parent_id=root.id, thread_root_id=root.id)
        grandchild = self.mail(parent_id=child.id, thread_root_id=root.id)
        self.assertEqual((child | grandchild).lead_id, lead)

    def test_adopted_orphan_joins_lead(self):
        lead = self.env["crm.lead"].create(
            {"name": "Chairs", "user_id": self.user_sales.id}
        )
        orphan = self.mail(in_reply_to="<late@crm.test>", subject="Re: late")
        self.assertFalse(orphan.lead_id)
        parent = (
            self.env["crm.mail.message"]
            .sudo()
            .create(
                {
                    "account_id": self.account.id,
                    "direction": "outgoing",
                    "state": "received",
                    "message_id": "<late@crm.test>",
                    "subject": "late",
                    "lead_id": lead.id,
                }
            )
        )
        parent._adopt_orphans()
        self.assertEqual(orphan.parent_id, parent)
        self.assertEqual(orphan.lead_id, lead)
        self.assertEqual(len(self.lead_notes(lead)), 1)
