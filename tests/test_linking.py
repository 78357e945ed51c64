from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestLinking(MailServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_romashka()
        cls.tag = cls.env.ref("crm_mail_client.res_partner_category_from_mail")

    def fetch_one(self, raw, **account_values):
        self.deliver(raw)
        account = self.make_account(**account_values)
        account._fetch_locked()
        return self.env["crm.mail.message"].search([("account_id", "=", account.id)])

    def set_policy(self, policy, **values):
        self.env.company.write({"crm_mail_unknown_policy": policy, **values})

    def test_known_contact(self):
        mail = self.fetch_one(make_mail(sender="Ivan <IVAN@Romashka.example>"))
        self.assertEqual(mail.contact_id, self.ivan)
        self.assertEqual(mail.partner_id, self.romashka)

    def test_company_only_match_and_main_contact(self):
        self.main_contact_field()
        self.romashka.x_main_contact_id = self.ivan
        mail = self.fetch_one(make_mail(sender="info@romashka.example"))
        self.assertEqual(mail.partner_id, self.romashka)
        self.assertEqual(mail.contact_id, self.ivan)

    def test_several_addresses_in_one_field(self):
        anna = self.env["res.partner"].create(
            {
                "name": "Anna",
                "email": "anna@vektor.example; sales@vektor.example, a@v.example",
            }
        )
        mail = self.fetch_one(make_mail(sender="sales@vektor.example"))
        self.assertEqual(mail.contact_id, anna)
        self.assertEqual(
            mail.partner_id, anna, "a person without company is the customer"
        )

    def test_person_preferred_over_company(self):
        self.env["res.partner"].create(
            {
                "name": "Shared Inbox Co",
                "is_company": True,
                "email": "ivan@romashka.example",
            }
        )
        mail = self.fetch_one(make_mail(sender="ivan@romashka.example"))
        self.assertEqual(mail.contact_id, self.ivan)

    def test_custom_second_email_field_from_wizard(self):
        self.env["ir.model.fields"].create(
            {
                "name": "x_email2",
                "model_id": self.env.ref("base.model_res_partner").id,
                "ttype": "char",
                "field_description": "Second Email",
            }
        )
        self.ivan.x_email2 = "ivan.private@other.example"
        wizard = Form(self.env["crm.mail.setup.wizard"])
        second = self.env["ir.model.fields"]._get("res.partner", "x_email2")
        wizard.contact_email_field_ids.add(second)
        wizard.save().action_apply()
        self.assertEqual(
            self.env.company.crm_mail_contact_email_fields, "email,x_email2"
        )
        mail = self.fetch_one(make_mail(sender="ivan.private@other.example"))
        self.assertEqual(mail.contact_id, self.ivan)

    def test_name_field_and_main_contact_from_the_wizard(self):
        """ClientBase's "ФИО" field and a company's main contact: the setup
        wizard's choices are used when mail creates them (#23.12)."""
        Fields = self.env["ir.model.fields"]
        partner_model = self.env.ref("base.model_res_partner").id
        Fields.create(
            {
                "name": "x_full_name",
                "model_id": partner_model,
                "ttype": "char",
                "field_description": "Full Name",
            }
        )
        Fields.create(
            {
                "name": "x_main_contact_id",
                "model_id": partner_model,
                "ttype": "many2one",
                "relation": "res.partner",
                "field_description": "Main Contact",
            }
        )
        wizard = self.env["crm.mail.setup.wizard"].create({"unknown_policy": "contact"})
        wizard.contact_name_field_id = Fields._get("res.partner", "x_full_name")
        wizard.company_contact_field_id = Fields._get(
            "res.partner", "x_main_contact_id"
        )
        wizard.action_apply()
        self.deliver(
            make_mail(sender="Пётр Сидоров <petr@newclient.example>", subject="Запрос")
        )
        # a second sender of that company leaves its main contact as it is
        mails = self.fetch_one(make_mail(sender="Anna <anna@newclient.example>"))
        first = mails.filtered(lambda m: m.subject == "Запрос")
        contact = first.contact_id
        self.assertEqual(contact.name, "Пётр Сидоров")
        self.assertEqual(contact.x_full_name, "Пётр Сидоров")
        self.assertEqual(contact.parent_id.x_main_contact_id, contact)
        second = mails - first
        self.assertEqual(second.contact_id.parent_id, contact.parent_id)
        self.assertEqual(contact.parent_id.x_main_contact_id, contact)

    def test_wizard_refuses_wrong_fields(self):
        wizard = self.env["crm.mail.setup.wizard"].create({})
        wizard.contact_email_field_ids = self.env["ir.model.fields"]._get(
            "res.partner", "parent_id"
        )
        with self.assertRaises(UserError):
            wizard.action_next()
        wizard = self.env["crm.mail.setup.wizard"].create({})
        wizard.contact_company_field_id = self.env["ir.model.fields"]._get(
            "res.partner", "user_id"
        )
        with self.assertRaises(UserError):
            wizard.action_apply()

    def test_unknown_human_creates_company_and_contact(self):
        self.set_policy("contact")
        mail = self.fetch_one(
            make_mail(sender="Олег Смирнов <oleg@stroy-trest.example>")
        )
        self.assertEqual(mail.contact_id.name, "Олег Смирнов")
        self.assertEqual(mail.contact_id.email, "oleg@stroy-trest.example")
        self.assertTrue(mail.partner_id.is_company)
        self.assertEqual(mail.contact_id.parent_id, mail.partner_id)
        self.assertIn(self.tag, mail.contact_id.category_id)
        self.assertIn(self.tag, mail.partner_id.category_id)
        self.assertFalse(mail.lead_id)
        # a colleague from the same domain joins the same company
        self.deliver(make_mail(sender="anna@stroy-trest.example"))
        mail.account_id._fetch_locked()
        anna = self.env["crm.mail.message"].search(
            [("email_from", "=", "anna@stroy-trest.example")]
        )
        self.assertEqual(anna.partner_id, mail.partner_id)

    def test_a_colleague_without_an_address_blocks_no_new_sender(self):
        """An internal user with no e-mail (a warehouse login, say) made
        every mail of an unknown sender end in Quarantine."""
        self.set_policy("contact")
        self.env["res.users"].create(
            {"name": "Склад", "login": "warehouse", "email": False}
        )
        mail = self.fetch_one(make_mail(sender="Пётр <petr@novy-klient.example>"))
        self.assertEqual(mail.state, "received")
        self.assertEqual(mail.contact_id.email, "petr@novy-klient.example")

    def test_unknown_human_creates_lead(self):
        team = self.env["crm.team"].create({"name": "Mail team"})
        self.set_policy(
            "lead",
            crm_mail_lead_team_id=team.id,
            crm_mail_lead_user_id=self.user_sales.id,
        )
        mail = self.fetch_one(
            make_mail(sender="buyer@new-client.example", subject="Заказ")
        )
        self.assertEqual(mail.lead_id.name, "Заказ")
        self.assertEqual(mail.lead_id.team_id, team)
        self.assertEqual(mail.lead_id.user_id, self.user_sales)
        self.assertEqual(mail.lead_id.partner_id, mail.contact_id)

    def test_public_domain_contact_only(self):
        self.set_policy("contact")
        mail = self.fetch_one(make_mail(sender="Petya <petya@mail.ru>"))
        self.assertEqual(mail.contact_id.name, "Petya")
        self.assertFalse(mail.contact_id.parent_id)
        self.assertEqual(mail.partner_id, mail.contact_id)

    def test_policy_none(self):
        self.set_policy("none")
        mail = self.fetch_one(make_mail(sender="stranger@unknown.example"))
        self.assertFalse(mail.contact_id)
        self.assertFalse(
            self.env["res.partner"].search([("email", "=", "stranger@unknown.example")])
        )

    def test_robots_create_nothing(self):
        self.set_policy("lead")
        robots = [
            make_mail(
                sender="boss@far.example",
                subject="Автоответ: Re: заказ",
                headers={"Auto-Submitted": "auto-replied"},
            ),
            make_mail(
                sender="MAILER-DAEMON@mx.far.example",
                subject="Undelivered Mail Returned to Sender",
            ),
            make_mail(
                sender="news@shop.example",
                subject="Скидки",
                headers={"List-Unsubscribe": "<mailto:u@shop.example>"},
            ),
            make_mail(sender="no-reply@service.example", subject="Ваш заказ"),
            make_mail(sender="spam@spam.example", headers={"X-Spam-Flag": "YES"}),
        ]
        for raw in robots:
            self.deliver(raw)
        account = self.make_account()
        account._fetch_locked()
        mails = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        self.assertEqual(len(mails), 5, "robots are stored")
        self.assertFalse(mails.contact_id | mails.partner_id)
        self.assertFalse(mails.lead_id)
        self.assertEqual(
            sorted(filter(None, mails.mapped("auto_kind"))),
            ["auto_reply", "bounce", "bulk", "noreply"],
        )

    def test_blacklist(self):
        Blacklist = self.env["crm.mail.blacklist"]
        entries = Blacklist.create(
            [
                {"pattern": "ivan@romashka.example"},
                {"pattern": "@spam.example"},
                {"pattern": "*@*.bulk.example"},
            ]
        )
        for sender in (
            "ivan@romashka.example",
            "a@spam.example",
            "b@sub.spam.example",
            "c@mx.bulk.example",
            "ok@fine.example",
        ):
            self.deliver(make_mail(sender=sender))
        account = self.make_account()
        run = account._fetch_locked()
        mails = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        self.assertEqual(mails.mapped("email_from"), ["ok@fine.example"])
        self.assertEqual(run.counts["other"], 4)
        self.assertEqual(entries.mapped("hit_count"), [1, 2, 1])
        self.assertIn("blacklisted", account.fetch_log_ids[:1].details)

    def test_blacklist_refuses_bad_patterns(self):
        for bad in ("/(a+)+$/", "/[unclosed/", ""):
            with self.assertRaises(ValidationError):
                self.env["crm.mail.blacklist"].create({"pattern": bad or " "})

    def test_blacklist_wizard_deletes_stored(self):
        mail = self.fetch_one(make_mail(sender="pest@pest.example"))
        action = mail.action_blacklist_domain()
        wizard = self.env["crm.mail.blacklist.wizard"].browse(action["res_id"])
        self.assertEqual(wizard.pattern, "@pest.example")
        self.assertEqual(wizard.existing_count, 1)
        wizard.delete_existing = True
        wizard.action_apply()
        self.assertFalse(mail.exists())
        self.assertTrue(
            self.env["crm.mail.blacklist"].search([("pattern", "=", "@pest.example")])
        )

    def test_blacklist_in_the_action_menu_for_received_mail(self):
        """Administrators blacklist from a mail's Action menu; never the
        sender of our own outgoing mail (that is us)."""
        sender = self.env.ref(
            "crm_mail_client.crm_mail_message_action_server_blacklist_sender"
        )
        mail = self.fetch_one(make_mail(sender="pest@pest.example"))
        context = {"active_model": mail._name, "active_id": mail.id}
        result = sender.with_context(**context).run()
        wizard = self.env["crm.mail.blacklist.wizard"].browse(result["res_id"])
        self.assertEqual(wizard.pattern, "pest@pest.example")
        with self.assertRaises(AccessError):
            sender.with_user(self.user_sales).with_context(**context).run()
        mail.direction = "outgoing"
        with self.assertRaises(UserError):
            mail.action_blacklist_domain()

    def test_relink_after_new_address(self):
        self.set_policy("none")
        mail = self.fetch_one(make_mail(sender="ivan.new@romashka.example"))
        self.assertFalse(mail.contact_id)
        self.ivan.email = "ivan@romashka.example, ivan.new@romashka.example"
        result = self.ivan.action_crm_mail_relink()
        self.assertEqual(mail.contact_id, self.ivan)
        self.assertEqual(mail.partner_id, self.romashka)
        self.assertEqual(result["params"]["message"], "Mails linked again: 1.")
        # the same mail again: nothing changes, nothing is counted
        result = self.ivan.action_crm_mail_relink()
        self.assertEqual(result["params"]["message"], "Mails linked again: 0.")

    def test_outgoing_links_recipient(self):
        mail = self.fetch_one(
            make_mail(sender=self.mailbox, to="Ivan <ivan@romashka.example>"),
        )
        self.assertEqual(mail.direction, "outgoing")
        self.assertEqual(mail.contact_id, self.ivan)

    def test_orphan_adoption(self):
        self.deliver(
            make_mail(
                subject="Re: Q",
                message_id="<a@x.example>",
                headers={"In-Reply-To": "<q@x.example>"},
            )
        )
        account = self.make_account()
        account._fetch_locked()
        answer = self.env["crm.mail.message"].search(
            [("message_id", "=", "<a@x.example>")]
        )
        self.assertFalse(answer.parent_id)
        self.deliver(
            make_mail(subject="Q", message_id="<q@x.example>"), folder="Archive"
        )
        account._fetch_locked()
        question = self.env["crm.mail.message"].search(
            [("message_id", "=", "<q@x.example>")]
        )
        self.assertEqual(answer.parent_id, question)
        self.assertEqual(answer.thread_root_id, question)

    def test_thread_in_one_click(self):
        self.deliver(make_mail(subject="Q", message_id="<t1@x.example>"))
        self.deliver(
            make_mail(
                subject="Re: Q",
                message_id="<t2@x.example>",
                headers={"In-Reply-To": "<t1@x.example>"},
            )
        )
        self.deliver(
            make_mail(
                subject="Re: Re: Q",
                message_id="<t3@x.example>",
                headers={
                    "In-Reply-To": "<t2@x.example>",
                    "References": "<t1@x.example> <t2@x.example>",
                },
            )
        )
        self.deliver(make_mail(subject="other"))
        account = self.make_account()
        account._fetch_locked()
        last = self.env["crm.mail.message"].search(
            [("message_id", "=", "<t3@x.example>")]
        )
        self.assertEqual(last.thread_count, 3)
        action = last.action_view_thread()
        thread = self.env["crm.mail.message"].search(action["domain"])
        self.assertEqual(sorted(thread.mapped("subject")), ["Q", "Re: Q", "Re: Re: Q"])
