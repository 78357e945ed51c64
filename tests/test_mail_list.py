"""A mail list that reads like a mail client's (#21): the start of the text
after the subject, the user's unread counts (menu and search panel), the
account column only for readers of several accounts, postpone presets."""

from datetime import datetime
from unittest.mock import patch

import pytz
from freezegun import freeze_time
from lxml import etree

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from ..models.crm_mail_message_list import SNIPPET_CHARS, make_snippet
from .common import MailServerCase, make_mail
from .test_access_rules import RpcMixin


@tagged("post_install", "-at_install")
class TestMailList(RpcMixin, MailServerCase, HttpCase):
    def setUp(self):
        super().setUp()
        self.account = self.make_account()
        self.grant(self.account, self.user_sales, in_read=True)

    def fetch(self, *subjects, **kwargs):
        for subject in subjects:
            self.deliver(make_mail(subject=subject, **kwargs))
        self.account._fetch_locked()
        return self.env["crm.mail.message"].search(
            [("account_id", "=", self.account.id), ("subject", "in", subjects)]
        )

    def test_snippet_is_the_start_of_the_text_without_quotes(self):
        text = "Добрый день!\n\n> старое письмо\n> ещё\nНужно   40 штук.\n" + "x" * 300
        snippet = make_snippet(text, "")
        self.assertTrue(snippet.startswith("Добрый день! Нужно 40 штук. xxx"))
        self.assertNotIn("старое", snippet)
        self.assertEqual(len(snippet), SNIPPET_CHARS)
        self.assertTrue(snippet.endswith("…"))
        self.assertEqual(
            make_snippet("", "<p>Счёт&nbsp;№1</p><p><b>оплатить</b></p>"),
            "Счёт №1 оплатить",
        )
        mail = self.fetch("Заказ", body="Пришлите, пожалуйста, счёт.\n")
        self.assertEqual(mail.snippet, "Пришлите, пожалуйста, счёт.")

    def test_unread_counts_over_rpc_follow_the_users_rights(self):
        mails = self.fetch("Заказ 1", "Заказ 2", "Заказ 3")
        stranger = new_test_user(
            self.env, login="crm_mail_stranger", groups="sales_team.group_sale_salesman"
        )
        self.login(self.user_sales)
        counts, error = self.call("crm.mail.message", "get_unread_counts")
        self.assertIsNone(error)
        self.assertEqual(counts, {"inbox": 3, "more": False})
        _, error = self.call("crm.mail.message", "action_mark_read", mails[:2].ids)
        self.assertIsNone(error)
        counts, _ = self.call("crm.mail.message", "get_unread_counts")
        self.assertEqual(counts["inbox"], 1)
        self.call("crm.mail.message", "action_mark_unread", mails[:1].ids)
        counts, _ = self.call("crm.mail.message", "get_unread_counts")
        self.assertEqual(counts["inbox"], 2)
        # his marks are his: the administrator has all three unread
        self.assertEqual(self.env["crm.mail.message"].get_unread_counts()["inbox"], 3)
        # without a right on the account: nothing counted
        self.login(stranger)
        counts, error = self.call("crm.mail.message", "get_unread_counts")
        self.assertIsNone(error)
        self.assertEqual(counts["inbox"], 0)

    def test_the_search_panel_shows_unread_per_account(self):
        mails = self.fetch("Заказ 1", "Заказ 2")
        mails[:1].with_user(self.user_sales).action_mark_read()
        Message = self.env["crm.mail.message"].with_user(self.user_sales)
        values = Message.search_panel_select_range(
            "account_id", search_domain=[], enable_counters=True
        )["values"]
        (value,) = [v for v in values if v["id"] == self.account.id]
        self.assertEqual(value["__count"], 2)
        self.assertEqual(value["__unread"], 1)

    def test_the_search_panel_lists_server_folders(self):
        self.fetch("Заказ 1", "Заказ 2")
        Message = self.env["crm.mail.message"].with_user(self.user_sales)
        arch = Message.get_views([(False, "search")])["views"]["search"]["arch"]
        self.assertTrue(
            etree.fromstring(arch).xpath("//searchpanel/field[@name='folder_id']")
        )
        values = Message.search_panel_select_range(
            "folder_id", search_domain=[], enable_counters=True
        )["values"]
        counted = {v["display_name"]: v["__count"] for v in values if v.get("__count")}
        self.assertEqual(counted, {"INBOX": 2})
        # a folder of an account he does not read is not offered
        other = self.make_account(name="Second box", email="second@crm.test")
        self.env["crm.mail.folder"].create({"account_id": other.id, "name": "Secret"})
        values = Message.search_panel_select_range(
            "folder_id", search_domain=[], enable_counters=True
        )["values"]
        self.assertNotIn("Secret", " ".join(v["display_name"] for v in values))

    def test_the_account_column_only_for_readers_of_several(self):
        def account_column_hidden(user):
            arch = (
                self.env["crm.mail.message"]
                .with_user(user)
                .get_views([(False, "list")])["views"]["list"]["arch"]
            )
            (column,) = etree.fromstring(arch).xpath("//field[@name='account_id']")
            return column.get("column_invisible") == "True"

        self.assertTrue(account_column_hidden(self.user_sales))
        other = self.make_account(name="Second box", email="second@crm.test")
        self.grant(other, self.user_sales, in_read=True)
        self.assertFalse(account_column_hidden(self.user_sales))

    def test_postpone_presets(self):
        Wizard = self.env["crm.mail.postpone.wizard"].with_context(tz="Europe/Moscow")
        moscow = pytz.timezone("Europe/Moscow")

        def local(preset):
            until = Wizard._preset_until(preset)
            return pytz.utc.localize(until).astimezone(moscow).replace(tzinfo=None)

        with freeze_time("2026-12-03 10:00:00"):  # a Thursday; 13:00 in Moscow
            self.assertEqual(local("later"), datetime(2026, 12, 3, 16, 0))
            self.assertEqual(local("tomorrow"), datetime(2026, 12, 4, 9, 0))
            self.assertEqual(local("monday"), datetime(2026, 12, 7, 9, 0))
        with freeze_time("2026-12-07 05:00:00"):  # Monday: the next one
            self.assertEqual(local("monday"), datetime(2026, 12, 14, 9, 0))
        mail = self.fetch("Заказ")
        wizard = Wizard.with_user(self.user_sales).create(
            {"message_ids": [(6, 0, mail.ids)], "preset": "monday"}
        )
        wizard._onchange_preset()
        wizard.action_apply()
        self.assertEqual(mail.review_state, "postponed")
        self.assertEqual(mail.postponed_until, Wizard._preset_until("monday"))

    def test_the_more_menu_offers_what_the_user_can_do(self):
        mail = self.fetch("Заказ")

        def offered(user):
            mail.invalidate_recordset()
            return [a["name"] for a in mail.with_user(user).more_actions]

        as_sales = offered(self.user_sales)
        self.assertIn("action_create_lead", as_sales)
        self.assertIn("action_link_to", as_sales)
        self.assertNotIn("action_create_rule", as_sales, "mail administrators only")
        self.assertNotIn("action_mark_unread", as_sales, "it is unread")
        self.assertNotIn("action_put_on_control", as_sales, "incoming mail")
        mail.with_user(self.user_sales).action_mark_read()
        self.assertIn("action_mark_unread", offered(self.user_sales))
        self.assertIn("action_create_rule", offered(self.env.user))
        lead = mail.with_user(self.user_sales).action_create_lead()
        self.assertTrue(lead)
        self.assertNotIn("action_create_lead", offered(self.user_sales))

    def test_new_mail_is_announced_to_its_readers_only(self):
        stranger = new_test_user(
            self.env,
            login="crm_mail_stranger2",
            groups="sales_team.group_sale_salesman",
        )
        sender_only = new_test_user(
            self.env,
            login="crm_mail_sender_only",
            groups="sales_team.group_sale_salesman",
        )
        self.grant(self.account, sender_only, in_read=False, out_send=True)

        def announced(user):
            return self.bus_notices(user)

        Account = type(self.account)
        fetch = Account._fetch

        def fetch_while_a_draft_is_written(account, deadline):
            self.env["crm.mail.message"].create(
                {
                    "account_id": account.id,
                    "direction": "outgoing",
                    "state": "draft",
                    "subject": "Черновик",
                    "author_user_id": self.user_sales.id,
                }
            )
            return fetch(account, deadline)

        with patch.object(Account, "_fetch", fetch_while_a_draft_is_written):
            self.fetch("Заказ 1", "Заказ 2")
        (note,) = announced(self.user_sales)
        self.assertEqual(note["payload"]["account_id"], self.account.id)
        self.assertEqual(note["payload"]["count"], 2)
        self.assertTrue(announced(self.env.ref("base.user_admin")), "administrators")
        self.assertFalse(announced(stranger), "no right on the account")
        self.assertFalse(announced(sender_only), "sends, does not read incoming")
        # nothing new: nothing announced
        self.account._fetch_locked()
        self.assertEqual(len(announced(self.user_sales)), 1)

    def test_wizards_are_their_users_own(self):
        """An unsent mail in the composer (and any other wizard) is its
        user's alone: another user can neither read nor change it."""
        form_user = self.user_sales
        other = new_test_user(
            self.env, login="crm_mail_other", groups="sales_team.group_sale_salesman"
        )
        self.grant(self.account, other, in_read=True, out_send=True)
        wizard = (
            self.env["crm.mail.compose"]
            .with_user(form_user)
            .create({"email_to": "olga@other.example", "subject": "Тайна"})
        )
        as_other = self.env["crm.mail.compose"].with_user(other)
        self.assertFalse(as_other.search([("id", "=", wizard.id)]))
        with self.assertRaises(AccessError):
            as_other.browse(wizard.id).write({"email_bcc": "x@evil.example"})
        for model in (
            "crm.mail.link.wizard",
            "crm.mail.log.note.wizard",
            "crm.mail.postpone.wizard",
            "crm.mail.blacklist.wizard",
            "crm.mail.rule.test",
            "crm.mail.setup.wizard",
        ):
            rules = self.env["ir.rule"].search([("model_id.model", "=", model)])
            self.assertIn("create_uid", " ".join(rules.mapped("domain_force")), model)

    def test_announcing_new_mail_across_companies(self):
        """A mail administrator of another company is among the users
        asked: his own companies decide, and the fetch never fails on him."""
        other_company = self.env["res.company"].create({"name": "Филиал"})
        admin_b = new_test_user(
            self.env,
            login="crm_mail_admin_b",
            groups="sales_team.group_sale_salesman,crm_mail_client.group_mail_manager",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        )
        self.deliver(make_mail(subject="Заказ филиала"))
        account = self.account.with_context(allowed_company_ids=self.env.company.ids)
        run = account._fetch_locked()
        self.assertEqual(run.counts["stored"], 1)
        self.assertFalse(self.bus_notices(admin_b))
