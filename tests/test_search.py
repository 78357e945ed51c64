"""Full-text search of mail (issue #19): word forms in Russian and English,
phrases, names, addresses, file names, and the reader's rights."""

from odoo.tests import HttpCase, tagged

from .test_access_rules import AccessFixture, RpcMixin


@tagged("post_install", "-at_install")
class TestSearch(RpcMixin, AccessFixture, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()
        Message = cls.env["crm.mail.message"].sudo()

        def mail(account, subject, body, **vals):
            return Message.create(
                {
                    "account_id": account.id,
                    "direction": "incoming",
                    "subject": subject,
                    "body_text": body,
                    **vals,
                }
            )

        cls.order = mail(
            cls.x,
            "Заказы на поставку",
            "Прошу выставить счета за доставку товара до пятницы.",
            email_from="ivan.petrov@romashka.example",
            from_name="Иван Петров",
        )
        cls.invoice = mail(
            cls.x,
            "Invoices for March",
            "Please find the invoices attached; the delivery was late.",
            email_from="john@acme.example",
            from_name="John Carter",
        )
        cls.html_only = mail(
            cls.x,
            "Price list",
            "",
            body_html="<p>Новые <b>цены</b> на оборудование</p>",
        )
        cls.other_account = mail(
            cls.y,
            "Заказ от конкурента",
            "Заказы, счета, доставка: всё то же самое.",
            email_from="spy@rival.example",
        )
        cls.env["ir.attachment"].create(
            {
                "name": "specification_2026.pdf",
                "raw": b"%PDF",
                "res_model": "crm.mail.message",
                "res_id": cls.invoice.id,
            }
        )

    def found(self, words, user=None):
        Message = self.env["crm.mail.message"]
        if user:
            Message = Message.with_user(user)
        return Message.search([("fulltext", "ilike", words)])

    def test_word_forms_russian_and_english(self):
        mine = self.order | self.invoice | self.html_only
        cases = {
            "заказ": self.order,  # заказы
            "счёт": self.order,  # счета
            "доставка": self.order,  # доставку
            "invoice": self.invoice,  # invoices
            "deliveries": self.invoice,  # delivery
            "цена": self.html_only,  # цены, in HTML only
        }
        for words, expected in cases.items():
            with self.subTest(words=words):
                self.assertEqual(self.found(words) & mine, expected)

    def test_all_words_phrases_and_exclusions(self):
        self.assertEqual(self.found("заказ доставка") & self.order, self.order)
        self.assertFalse(self.found("заказ invoices") & (self.order | self.invoice))
        self.assertEqual(self.found('"доставку товара"') & self.order, self.order)
        self.assertFalse(self.found('"товара доставку"') & self.order)
        self.assertFalse(self.found("заказ -счета") & self.order)

    def test_people_addresses_and_file_names(self):
        cases = {
            "Петров": self.order,
            "ivan.petrov@romashka.example": self.order,
            "romashka": self.order,
            "Carter": self.invoice,
            "acme": self.invoice,
            "specification": self.invoice,
            "specification_2026.pdf": self.invoice,
        }
        for words, expected in cases.items():
            with self.subTest(words=words):
                self.assertEqual(self.found(words), expected)

    def test_a_changed_mail_is_found_by_its_new_words(self):
        self.html_only.sudo().subject = "Обновлённый прайс-лист"
        self.assertEqual(self.found("прайс"), self.html_only)
        self.assertFalse(self.found("Price list") & self.html_only)

    def test_rights_apply_to_search_and_count(self):
        """A reads X's incoming mail: Y's never shows, nor counts."""
        self.assertEqual(self.found("заказ", self.user_a), self.order)
        self.assertEqual(
            self.env["crm.mail.message"]
            .with_user(self.user_a)
            .search_count([("fulltext", "ilike", "заказ")]),
            1,
        )
        self.assertIn(self.other_account, self.found("заказ"), "the admin finds both")
        # over RPC, as the web client's search box sends it
        self.login(self.user_a)
        result = self.assert_allowed(
            "crm.mail.message",
            "web_search_read",
            [("fulltext", "ilike", "заказ")],
            {"subject": {}},
            count_limit=10001,
        )
        self.assertEqual(result["length"], 1)
        self.assertEqual([r["id"] for r in result["records"]], self.order.ids)
        self.login(self.user_d)
        result = self.assert_allowed(
            "crm.mail.message",
            "web_search_read",
            [("fulltext", "ilike", "заказ")],
            {"subject": {}},
        )
        self.assertEqual(result["length"], 0)

    def test_search_panel_counts_up_to_a_cap_and_only_readable_mail(self):
        from unittest.mock import patch

        from odoo.addons.crm_mail_client.models import crm_mail_message_panel

        Message = self.env["crm.mail.message"].sudo()
        Message.create(
            [
                {"account_id": self.x.id, "subject": f"bulk {i}", "review_state": "new"}
                for i in range(5)
            ]
        )
        inbox = [("direction", "=", "incoming")]

        def panel(user, field):
            values = (
                self.env["crm.mail.message"]
                .with_user(user)
                .search_panel_select_range(
                    field, enable_counters=True, search_domain=inbox
                )["values"]
            )
            return {
                v["id"]: (v["__count"], v.get("__count_more", False)) for v in values
            }

        with patch.object(crm_mail_message_panel, "PANEL_COUNT_CAP", 3):
            by_state = panel(self.user_a, "review_state")
            self.assertEqual(by_state["new"], (3, True), "3+: counting stops there")
            by_account = panel(self.user_a, "account_id")
        # A reads X only: Y's mail is neither listed nor counted
        self.assertEqual(set(by_account), {self.x.id})
        by_account = panel(self.user_a, "account_id")
        self.assertEqual(by_account[self.x.id], (9, False))

    def test_the_partner_mail_tab_searches_too(self):
        from odoo.tests import Form

        (self.order | self.invoice).sudo().partner_id = self.customer
        partner = self.customer.with_user(self.user_a)
        form = Form(partner)
        total = form.crm_mail_count
        self.assertEqual(len(form.crm_mail_message_ids), total)
        form.crm_mail_search = "invoice"
        self.assertEqual(form.crm_mail_message_ids.ids, self.invoice.ids)
        self.assertEqual(form.crm_mail_count, total, "the button counts them all")
        form.save()  # a search typed in the tab saves nothing, and fails nothing
        self.assertFalse(partner.crm_mail_search)

    def test_unread_filter_is_per_reader(self):
        """The unread filter (a NOT EXISTS on the reader's marks) in every
        form a domain can take, each user with his own marks."""
        self.order.with_user(self.user_a).action_mark_read()
        self.invoice.with_user(self.user_b).action_mark_read()
        mine = self.order | self.invoice | self.html_only
        cases = {
            (("is_unread", "=", True),): self.invoice | self.html_only,
            (("is_unread", "=", False),): self.order,
            (("is_unread", "!=", True),): self.order,
            (("is_unread", "!=", False),): self.invoice | self.html_only,
            ("!", ("is_unread", "=", True)): self.order,
            ("|", ("is_unread", "=", False), ("subject", "=", "Price list")): (
                self.order | self.html_only
            ),
        }
        Message = self.env["crm.mail.message"].with_user(self.user_a)
        for domain, expected in cases.items():
            with self.subTest(domain=domain):
                self.assertEqual(Message.search(list(domain)) & mine, expected)
                self.assertEqual(
                    Message.search_count(list(domain) + [("id", "in", mine.ids)]),
                    len(expected),
                )
        self.login(self.user_b)
        rows = self.assert_allowed(
            "crm.mail.message",
            "web_search_read",
            [("is_unread", "=", True), ("id", "in", mine.ids)],
            {"subject": {}, "is_unread": {}},
        )
        self.assertEqual(
            {row["id"] for row in rows["records"]}, {self.order.id, self.html_only.id}
        )
        self.assertTrue(all(row["is_unread"] for row in rows["records"]))
