from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.crm_mail_client.mail_engine.imap_session import ImapSession
from odoo.addons.crm_mail_client.mail_engine.pop3_session import Pop3Session

from .common import MailServerCase, make_mail


@tagged("post_install", "-at_install")
class TestRules(MailServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_romashka()
        cls.team = cls.env["crm.team"].create({"name": "Mail orders"})
        cls.tag = cls.env["crm.tag"].create({"name": "From mail rule"})
        cls.env.company.crm_mail_unknown_policy = "none"

    # ------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------

    def rule(self, name, conditions=(), **vals):
        """A rule; ``conditions`` are (field, operator, value[, header])."""
        return self.env["crm.mail.rule"].create(
            {
                "name": name,
                "condition_ids": [
                    Command.create(
                        {
                            "field": c[0],
                            "operator": c[1],
                            "value": c[2],
                            "header_name": c[3] if len(c) > 3 else False,
                        }
                    )
                    for c in conditions
                ],
                **vals,
            }
        )

    def fetch(self, *raws, account=None):
        for raw in raws:
            self.deliver(raw)
        account = account or self.make_account()
        account._fetch_locked()
        return account, self.env["crm.mail.message"].search(
            [("account_id", "=", account.id)]
        )

    def server_uids(self, account):
        """The messages on the server (a connection of its own)."""
        if account.protocol == "pop3":
            with Pop3Session.open(account._incoming_config()) as session:
                return list(session.uidl())
        with ImapSession.open(account._incoming_config()) as session:
            return session.search_uids("INBOX")[1]

    # ------------------------------------------------------------
    # matching
    # ------------------------------------------------------------

    def test_each_operator_and_field(self):
        account = self.make_account()
        expected = {
            self.rule("from contains", [("from", "contains", "romashka")]),
            self.rule("from name", [("from", "equals", "ivan petrov")]),
            self.rule("to equals", [("to", "equals", "Orders@Crm.Test")]),
            self.rule("cc starts", [("cc", "starts_with", "anna@")]),
            self.rule("subject ends", [("subject", "ends_with", "urgent")]),
            self.rule("subject not contains", [("subject", "not_contains", "spam")]),
            self.rule("from not equals", [("from", "not_equals", "x@y.example")]),
            self.rule("body regex", [("body", "regex", r"invoice\s+no\.\s*\d+")]),
            self.rule("header", [("header", "equals", "gold", "X-Customer-Level")]),
            self.rule(
                "lines any of",
                [("subject", "contains", "nothing\nORDER")],
                account_id=account.id,
            ),
        }
        not_fired = {
            self.rule("from miss", [("from", "contains", "vektor")]),
            self.rule("to miss", [("to", "starts_with", "sales@")]),
            self.rule("cc miss", [("cc", "equals", "anna")]),
            self.rule(
                "subject not contains miss", [("subject", "not_contains", "order")]
            ),
            self.rule(
                "from not equals miss",
                [("from", "not_equals", "ivan@romashka.example")],
            ),
            self.rule("starts miss", [("subject", "starts_with", "urgent")]),
            self.rule("ends miss", [("subject", "ends_with", "order")]),
            self.rule("regex miss", [("body", "regex", r"^invoice")]),
            self.rule("header miss", [("header", "contains", "gold", "X-Other")]),
        }
        raw = make_mail(
            subject="Order 17 URGENT",
            sender="Ivan Petrov <ivan@romashka.example>",
            to="orders@crm.test",
            body="Hello,\nplease pay invoice no. 42.\n",
            headers={"Cc": "anna@partner.example", "X-Customer-Level": "Gold"},
        )
        _account, mail = self.fetch(raw, account=account)
        self.assertEqual(set(mail.rule_ids), expected)
        for rule in expected:
            self.assertEqual(rule.hit_count, 1, rule.name)
            self.assertTrue(rule.last_hit)
        for rule in not_fired:
            self.assertEqual(rule.hit_count, 0, rule.name)
        # no action: the default path linked it as usual
        self.assertEqual(mail.contact_id, self.ivan)
        self.assertEqual(mail.partner_id, self.romashka)

    def test_all_and_any(self):
        yes, no = ("subject", "contains", "offer"), ("from", "contains", "nobody")
        all_yes = self.rule("all yes", [yes, yes], match="all")
        all_mixed = self.rule("all mixed", [yes, no], match="all")
        any_mixed = self.rule("any mixed", [no, yes], match="any")
        any_no = self.rule("any no", [no, no], match="any")
        _account, mail = self.fetch(make_mail(subject="Our offer"))
        self.assertEqual(mail.rule_ids, all_yes | any_mixed)
        self.assertFalse((all_mixed | any_no).filtered("hit_count"))

    def test_no_rule_default_path_unchanged(self):
        self.rule("other", [("subject", "contains", "never")], action_ignore=True)
        _account, mail = self.fetch(make_mail(sender="ivan@romashka.example"))
        self.assertFalse(mail.rule_ids)
        self.assertEqual(mail.contact_id, self.ivan)
        self.assertEqual(mail.review_state, "new")
        self.assertFalse(mail.lead_id)

    def test_global_then_account_order_and_stop(self):
        account = self.make_account()
        cond = [("subject", "contains", "hello")]
        own = self.rule(
            "account rule",
            cond,
            account_id=account.id,
            sequence=1,
            action_assign_user_id=self.user_admin_mail.id,
        )
        glob = self.rule(
            "global rule",
            cond,
            sequence=50,
            action_assign_user_id=self.user_sales.id,
            action_review_state="reviewed",
        )
        other = self.make_account(name="Other", email="other@crm.test")
        self.rule("rule of another account", cond, account_id=other.id)
        _account, mail = self.fetch(make_mail(subject="Hello"), account=account)
        self.assertEqual(mail.rule_ids, glob | own)
        # the account's rule ran after the global one, and overrode it
        self.assertEqual(mail.user_id, self.user_admin_mail)
        self.assertEqual(mail.review_state, "reviewed")

        glob.stop_processing = True
        _account, mails = self.fetch(make_mail(subject="Hello again"), account=account)
        mail = mails.filtered(lambda m: m.subject == "Hello again")
        self.assertEqual(mail.rule_ids, glob)
        self.assertEqual(mail.user_id, self.user_sales)
        self.assertEqual(own.hit_count, 1)
        self.assertEqual(glob.hit_count, 2)

    def test_skip_own_rules_after_a_global_rule(self):
        """Prostoy's order, as an account option: a global rule that fired
        settles the mail; the account's own rules run only when none did."""
        account = self.make_account(skip_own_rules_after_global=True)
        own = self.rule(
            "account rule",
            [("subject", "contains", "заказ")],
            account_id=account.id,
            action_assign_user_id=self.user_admin_mail.id,
        )
        glob = self.rule(
            "global rule",
            [("subject", "contains", "срочно")],
            action_assign_user_id=self.user_sales.id,
        )
        _account, mails = self.fetch(
            make_mail(subject="Заказ срочно"),
            make_mail(subject="Заказ"),
            account=account,
        )
        urgent = mails.filtered(lambda m: m.subject == "Заказ срочно")
        plain = mails - urgent
        self.assertEqual(urgent.rule_ids, glob)
        self.assertEqual(urgent.user_id, self.user_sales)
        self.assertEqual(plain.rule_ids, own)
        self.assertEqual(plain.user_id, self.user_admin_mail)
        self.assertEqual(own.hit_count, 1)

    def test_comma_separated_addresses_match(self):
        """A comma list on one line (as mail programs write addresses) used
        to match nothing, silently."""
        account = self.make_account()
        rule = self.rule(
            "several senders",
            [("from", "equals", "boss@other.example, ivan@romashka.example")],
            account_id=account.id,
            action_review_state="reviewed",
        )
        _account, mail = self.fetch(
            make_mail(sender="Ivan <ivan@romashka.example>"), account=account
        )
        self.assertEqual(mail.rule_ids, rule)

    def test_ignore_not_stored(self):
        rule = self.rule(
            "drop newsletters",
            [("header", "contains", "list", "List-Id")],
            action_ignore=True,
        )
        account, mails = self.fetch(
            make_mail(subject="News", headers={"List-Id": "<news.list.example>"}),
            make_mail(subject="Real mail"),
        )
        self.assertEqual(mails.mapped("subject"), ["Real mail"])
        self.assertEqual(rule.hit_count, 1)
        log = self.env["crm.mail.fetch.log"].search([("account_id", "=", account.id)])
        self.assertEqual(log.stored, 1)
        self.assertEqual(log.skipped_other, 1)
        self.assertIn("ignored", log.details)
        self.assertIn("drop newsletters", log.details)
        # fetched again: the checkpoint moved on, nothing comes back
        account._fetch_locked()
        self.assertEqual(rule.hit_count, 1)
        self.assertEqual(len(self.server_uids(account)), 2, "kept on the server")

    # ------------------------------------------------------------
    # server deletion
    # ------------------------------------------------------------

    def test_delete_from_server_after_commit(self):
        self.rule(
            "delete receipts",
            [("subject", "starts_with", "receipt")],
            action_delete_from_server=True,
        )
        self.rule(
            "ignore and delete",
            [("subject", "contains", "junk")],
            action_ignore=True,
            action_delete_from_server=True,
        )
        for subject in ("Receipt 1", "Keep me", "Junk offer"):
            self.deliver(make_mail(subject=subject))
        account = self.make_account(keep_on_server=True)
        Account = self.env.registry["crm.mail.account"]
        original = Account._apply_imap_actions
        on_server = []

        def apply_actions(acc, session, folders, expire=False):
            queued = self.env["crm.mail.server.action"].search_count(
                [("account_id", "=", acc.id)]
            )
            on_server.append(("before", len(self.server_uids(acc)), queued))
            original(acc, session, folders, expire=expire)
            on_server.append(("after", len(self.server_uids(acc))))

        with patch.object(Account, "_apply_imap_actions", apply_actions):
            account._fetch_locked()
        # the deletions are queued with the mails, done after their commit
        index = on_server.index(("before", 3, 2))
        self.assertEqual(on_server[index + 1], ("after", 1), "gone once committed")
        self.assertFalse(self.env["crm.mail.server.action"].search_count([]))
        mails = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        self.assertEqual(sorted(mails.mapped("subject")), ["Keep me", "Receipt 1"])
        receipt = mails.filtered(lambda m: m.subject == "Receipt 1")
        self.assertTrue(receipt.server_deleted)
        self.assertFalse((mails - receipt).server_deleted)

    def test_delete_from_server_pop3(self):
        self.rule(
            "delete receipts",
            [("subject", "starts_with", "receipt")],
            action_delete_from_server=True,
        )
        self.deliver(make_mail(subject="Receipt 2"))
        self.deliver(make_mail(subject="Keep me"))
        account = self.make_account(protocol="pop3", keep_on_server=True)
        account._fetch_locked()
        self.assertEqual(len(self.server_uids(account)), 1)
        mails = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        self.assertEqual(len(mails), 2)

    # ------------------------------------------------------------
    # leads and links
    # ------------------------------------------------------------

    def test_create_lead_with_team_salesperson_tags(self):
        rule = self.rule(
            "orders",
            [("subject", "contains", "order")],
            action_create_lead=True,
            lead_team_id=self.team.id,
            lead_user_id=self.user_sales.id,
            lead_tag_ids=[Command.set(self.tag.ids)],
        )
        _account, mail = self.fetch(
            make_mail(
                subject="Order: 10 pumps",
                sender="Ivan <ivan@romashka.example>",
                body="Please quote 10 pumps.",
            )
        )
        lead = mail.lead_id
        self.assertTrue(lead)
        # named after who wrote: five leads of one subject stay apart
        self.assertEqual(lead.name, "Romashka LLC — Order: 10 pumps")
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.user_id, self.user_sales)
        self.assertEqual(lead.tag_ids, self.tag)
        self.assertEqual(lead.partner_id, self.ivan)
        self.assertIn("10 pumps", lead.description)
        self.assertEqual(mail.rule_ids, rule)
        # the lead's salesperson answers for the mail, and reads it without
        # any right on the account (#23: the responsible sees his mail)
        self.assertEqual(mail.user_id, self.user_sales)
        self.assertTrue(mail.with_user(self.user_sales).has_access("read"))

    def test_rule_lead_reuses_policy_lead(self):
        """The unknown-sender policy's lead takes the rule's team: one lead."""
        self.env.company.crm_mail_unknown_policy = "lead"
        self.rule(
            "orders",
            [("subject", "contains", "order")],
            action_create_lead=True,
            lead_team_id=self.team.id,
        )
        Lead = self.env["crm.lead"]
        before = Lead.search_count([])
        _account, mail = self.fetch(
            make_mail(subject="Order", sender="new@buyer.example")
        )
        self.assertEqual(Lead.search_count([]), before + 1)
        self.assertEqual(mail.lead_id.team_id, self.team)
        self.assertTrue(mail.contact_id, "the policy still created the contact")

    def test_link_existing_lead_by_token_and_thread(self):
        lead = self.env["crm.lead"].create({"name": "Pumps deal"})
        self.rule(
            "link or create",
            [],
            action_link_lead=True,
            action_create_lead=True,
            lead_team_id=self.team.id,
        )
        Lead = self.env["crm.lead"]
        before = Lead.search_count([])
        first = make_mail(
            subject=f"Re: Our offer [#L{lead.id}]",
            message_id="<first@romashka.example>",
        )
        reply = make_mail(
            subject="Re: Re: Our offer",
            headers={"In-Reply-To": "<first@romashka.example>"},
        )
        unrelated = make_mail(subject="New question")
        _account, mails = self.fetch(first, reply, unrelated)
        by_subject = {m.subject: m for m in mails}
        self.assertEqual(by_subject[f"Re: Our offer [#L{lead.id}]"].lead_id, lead)
        self.assertEqual(by_subject["Re: Re: Our offer"].lead_id, lead, "by thread")
        new_lead = by_subject["New question"].lead_id
        self.assertTrue(new_lead)
        self.assertNotEqual(new_lead, lead)
        self.assertEqual(Lead.search_count([]), before + 1)

    def test_link_from_recipients(self):
        self.rule(
            "forwarded by the robot",
            [("from", "equals", "robot@forwarder.example")],
            action_link="to",
        )
        _account, mail = self.fetch(
            make_mail(sender="robot@forwarder.example", to="ivan@romashka.example")
        )
        self.assertEqual(mail.contact_id, self.ivan)
        self.assertEqual(mail.partner_id, self.romashka)

    # ------------------------------------------------------------
    # dry run
    # ------------------------------------------------------------

    def test_dry_run_changes_nothing(self):
        _account, mail = self.fetch(
            make_mail(subject="Order 5", sender="ivan@romashka.example")
        )
        rule = self.rule(
            "orders",
            [("subject", "contains", "nothing\norder"), ("from", "contains", "vektor")],
            match="any",
            action_create_lead=True,
            action_assign_user_id=self.user_sales.id,
            action_delete_from_server=True,
        )
        Lead = self.env["crm.lead"]
        leads = Lead.search_count([])
        action = rule.action_test()
        wizard = self.env["crm.mail.rule.test"].browse(action["res_id"])
        with Form(wizard) as form:
            form.message_id = mail
        wizard.action_run()
        html = str(wizard.result_html)
        self.assertIn("orders", html)
        self.assertIn("fires", html)
        self.assertIn("order", html)  # the line that matched
        self.assertIn("no line matched", html)
        self.assertIn("Create a lead", html)
        # a pasted raw message, the whole chain
        wizard.write(
            {
                "source": "raw",
                "scope": "chain",
                "raw_message": make_mail(
                    subject="Hello", sender="a@b.example"
                ).decode(),
            }
        )
        wizard.action_run()
        self.assertIn("does not fire", str(wizard.result_html))
        # nothing changed
        self.assertEqual(rule.hit_count, 0)
        self.assertFalse(rule.last_hit)
        self.assertEqual(Lead.search_count([]), leads)
        self.assertFalse(mail.rule_ids)
        self.assertFalse(mail.lead_id)
        self.assertNotEqual(mail.user_id, self.user_sales)
        self.assertEqual(len(self.server_uids(mail.account_id)), 1)

    def test_dry_run_needs_read_access_to_the_mail(self):
        _account, mail = self.fetch(make_mail(subject="Private"))
        rule = self.rule("any", [("subject", "contains", "private")])
        stranger = new_test_user(
            self.env,
            login="crm_mail_dry_stranger",
            groups="crm_mail_client.group_mail_user",
        )
        wizard = (
            self.env["crm.mail.rule.test"]
            .with_user(stranger)
            .create({"rule_id": rule.id, "message_id": mail.id})
        )
        with self.assertRaises(AccessError):
            wizard.action_run()

    def test_dry_run_chain_shows_only_readable_rules(self):
        """The chain of an account the user may not read is refused: its
        rules (names, patterns) are the account's business."""
        account = self.make_account()
        self.rule(
            "Secret routing of the director",
            [("from", "contains", "x")],
            account_id=account.id,
        )
        stranger = new_test_user(
            self.env,
            login="crm_mail_dry_stranger_chain",
            groups="crm_mail_client.group_mail_user",
        )
        wizard = (
            self.env["crm.mail.rule.test"]
            .with_user(stranger)
            .create(
                {
                    "scope": "chain",
                    "account_id": account.id,
                    "source": "raw",
                    "raw_message": make_mail(subject="Probe").decode(),
                }
            )
        )
        with self.assertRaises(AccessError):
            wizard.action_run()
        self.assertFalse(wizard.result_html)

    # ------------------------------------------------------------
    # checks and rights
    # ------------------------------------------------------------

    def test_pathological_regex_refused(self):
        for value in ("(a+)+$", "ok\n(x|xx)*y", "([a-z"):
            with self.assertRaises(ValidationError, msg=value):
                self.rule("bad", [("body", "regex", value)])
        with self.assertRaises(ValidationError):
            self.rule("no header name", [("header", "contains", "x")])
        rule = self.rule("fine", [("body", "regex", r"invoice\s+\d+")])
        with self.assertRaises(ValidationError):
            rule.condition_ids.value = "(.*)*"

    def test_owner_edits_allowed_rules_only(self):
        owner = self.user_sales
        account = self.make_account(user_id=owner.id)
        editable = self.rule(
            "mine",
            [("subject", "contains", "a")],
            account_id=account.id,
            allow_owner_edit=True,
        )
        locked = self.rule(
            "locked", [("subject", "contains", "b")], account_id=account.id
        )
        glob = self.rule("global", [("subject", "contains", "c")])
        Rule = self.env["crm.mail.rule"].with_user(owner)
        self.assertEqual(
            Rule.search([("id", "in", (editable | locked | glob).ids)]),
            editable | locked | glob,
            "a mail user reads the rules",
        )
        editable.with_user(owner).write(
            {
                "name": "mine, renamed",
                "condition_ids": [
                    Command.create(
                        {"field": "from", "operator": "contains", "value": "x"}
                    )
                ],
            }
        )
        self.assertEqual(len(editable.condition_ids), 2)
        with self.assertRaises(AccessError):
            locked.with_user(owner).write({"name": "no"})
        with self.assertRaises(AccessError):
            glob.with_user(owner).write({"name": "no"})
        with self.assertRaises(AccessError):
            editable.with_user(owner).write({"account_id": False})
        with self.assertRaises(AccessError):
            editable.with_user(owner).write({"allow_owner_edit": False})
        with self.assertRaises(AccessError):
            Rule.create({"name": "new", "account_id": account.id})
        with self.assertRaises(AccessError):
            self.env["crm.mail.rule.condition"].with_user(owner).create(
                {
                    "rule_id": locked.id,
                    "field": "from",
                    "operator": "contains",
                    "value": "x",
                }
            )
        # a mail user who reads no incoming mail sees no rule at all, not
        # even the global ones: conditions tell what the team receives
        stranger = new_test_user(
            self.env,
            login="crm_mail_stranger",
            groups="crm_mail_client.group_mail_user",
        )
        self.assertFalse(
            self.env["crm.mail.rule"]
            .with_user(stranger)
            .search([("id", "in", (editable | locked | glob).ids)])
        )
        # administrators edit everything
        locked.with_user(self.user_admin_mail).write({"allow_owner_edit": True})
        locked.with_user(owner).write({"name": "now editable"})

    def test_account_smart_button(self):
        account = self.make_account()
        rule = self.rule("own", [], account_id=account.id)
        self.rule("global", [])
        self.assertEqual(account.rule_count, 1)
        action = account.action_view_rules()
        self.assertEqual(self.env["crm.mail.rule"].search(action["domain"]), rule)

    def test_a_sender_cannot_steer_lead_writing_rules(self):
        """Review of #23: a lead a sender names by its [#L<id>] token is
        linked, never reassigned nor posted into; and only administrators
        set such actions."""
        other = self.env["crm.lead"].create(
            {"name": "Чужая сделка", "user_id": self.user_admin_mail.id}
        )
        rule = self.rule(
            "by token",
            [("subject", "contains", "re")],
            action_link_lead=True,
            action_lead_user_id=self.user_sales.id,
            action_post_on_lead=True,
        )
        _account, mail = self.fetch(
            make_mail(subject=f"Re: hello [#L{other.id}]", body="planted text")
        )
        self.assertEqual(mail.lead_id, other)
        self.assertEqual(other.user_id, self.user_admin_mail)
        self.assertFalse(
            other.message_ids.filtered(lambda m: "planted text" in (m.body or ""))
        )
        owner_rule = self.rule(
            "owner's", account_id=mail.account_id.id, allow_owner_edit=True
        )
        mail.account_id.sudo().user_id = self.user_sales
        with self.assertRaises(AccessError):
            owner_rule.with_user(self.user_sales).write({"action_lead_id": other.id})
        self.assertTrue(rule)

    def test_rules_file_into_a_chosen_lead_and_post_the_mail(self):
        """Prostoy's "add to task X, reassign to Y", vtiger's "update ticket"
        (#23.5): a fixed lead, the mail posted on it, its salesperson set."""
        tender = self.env["crm.lead"].create({"name": "Тендер на насосы"})
        rule = self.rule(
            "tender",
            [("subject", "contains", "тендер")],
            action_lead_id=tender.id,
            action_post_on_lead=True,
            action_lead_user_id=self.user_sales.id,
            action_create_lead=True,  # the fixed lead wins
        )
        _account, mail = self.fetch(
            make_mail(
                subject="Тендер: вопросы",
                sender="Ivan <ivan@romashka.example>",
                body="Когда будет КП по тендеру?",
            )
        )
        self.assertEqual(mail.rule_ids, rule)
        self.assertEqual(mail.lead_id, tender)
        self.assertEqual(tender.user_id, self.user_sales)
        self.assertEqual(mail.user_id, self.user_sales)
        (note,) = tender.message_ids.filtered(
            lambda m: "КП по тендеру" in (m.body or "")
        )
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
        self.assertEqual(note.author_id, self.ivan)
        self.assertEqual(
            self.env["crm.lead"].search_count([("name", "ilike", "вопросы")]), 0
        )


@tagged("post_install", "-at_install")
class TestRuleFromMail(MailServerCase):
    def test_create_a_rule_from_a_mail(self):
        account = self.make_account()
        mail = self.env["crm.mail.message"].create(
            {
                "account_id": account.id,
                "direction": "incoming",
                "subject": "Прайс",
                "email_from": "price@supplier.example",
            }
        )
        self.grant(account, self.user_sales, in_read=True)
        # the rule tester's picker tells mails of one subject apart
        self.assertEqual(mail.display_name, "Прайс")
        long_name = mail.with_context(crm_mail_long_name=True).display_name
        self.assertTrue(long_name.startswith("Прайс — price@supplier.example, "))
        with self.assertRaisesRegex(AccessError, "made by mail administrators"):
            mail.with_user(self.user_sales).action_create_rule()
        action = mail.with_user(self.user_admin_mail).action_create_rule()
        form = Form(
            self.env["crm.mail.rule"]
            .with_user(self.user_admin_mail)
            .with_context(**action["context"])
        )
        form.action_ignore = True
        rule = form.save()
        self.assertEqual(rule.account_id, account)
        self.assertEqual(
            rule.condition_ids.mapped(lambda c: (c.field, c.operator, c.value)),
            [("from", "contains", "price@supplier.example")],
        )
