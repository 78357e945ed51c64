from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..mail_engine import mime
from ..mail_engine import rules as engine
from ..mail_engine.addresses import parse_address_list
from ..mail_engine.compose import find_lead_ids
from ..mail_engine.exceptions import ParseError


class CrmMailRuleTest(models.TransientModel):
    """Dry run of routing rules on a stored mail or a pasted raw message.

    Shows which condition lines matched and what the rules would do; it
    writes nothing but its own result (no hit counted, no lead, no link).
    """

    _name = "crm.mail.rule.test"
    _description = "Test Mail Routing Rules"

    rule_id = fields.Many2one("crm.mail.rule", ondelete="cascade")
    scope = fields.Selection(
        [("rule", "This rule only"), ("chain", "All rules of the account")],
        required=True,
        default="rule",
        help="All rules: global rules first, then the account's own, as a "
        "fetch applies them (stop processing included).",
    )
    account_id = fields.Many2one(
        "crm.mail.account",
        help="Whose rules run after the global ones.",
    )
    source = fields.Selection(
        [("mail", "A stored mail"), ("raw", "A pasted message")],
        required=True,
        default="mail",
    )
    message_id = fields.Many2one("crm.mail.message", string="Mail")
    raw_message = fields.Text(
        help="The whole message with its headers, e.g. copied from "
        "'Show original' of a mail program.",
    )
    result_html = fields.Html(string="Result", readonly=True, sanitize=True)

    @api.model
    def _open(self, rule):
        wizard = self.create(
            {"rule_id": rule.id, "account_id": rule.account_id.id or False}
        )
        return wizard._action_reopen()

    def _action_reopen(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Test Rule"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_run(self):
        """Evaluate the rules and show the result; changes nothing else."""
        self.ensure_one()
        parsed = self._parsed()
        rules = self._rules()
        results = {
            r.key: r for r in engine.route(rules._compile(), parsed, explain=True)
        }
        self.result_html = self._render(rules, results, parsed)
        return self._action_reopen()

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _parsed(self):
        """The mail to test, parsed as a fetch would parse it."""
        if self.source == "raw":
            if not (self.raw_message or "").strip():
                raise UserError(self.env._("Paste a message first."))
            return self._parse(self.raw_message.encode())
        mail = self.message_id
        if not mail:
            raise UserError(self.env._("Choose a mail first."))
        # the original is read as superuser: only for a mail the user may read
        mail.check_access("read")
        original = (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [
                    ("res_model", "=", mail._name),
                    ("res_id", "=", mail.id),
                    ("mimetype", "=", "message/rfc822"),
                    ("name", "=", "original.eml"),
                ],
                limit=1,
            )
        )
        if original.raw:
            return self._parse(original.raw)
        # no original kept: rebuild what the record holds (no other headers)
        headers = [
            (name, value)
            for name, value in (
                ("Message-ID", mail.message_id),
                ("In-Reply-To", mail.in_reply_to),
                ("Reply-To", mail.reply_to),
            )
            if value
        ]
        return mime.ParsedMessage(
            message_id=mail.message_id or None,
            email_from=mail.email_from or None,
            from_name=mail.from_name or "",
            to=parse_address_list(mail.email_to or ""),
            cc=parse_address_list(mail.email_cc or ""),
            subject=mail.subject or "",
            body_text=mail.body_text or "",
            headers=headers,
        )

    def _parse(self, raw):
        try:
            return mime.parse(raw, save_attachments=False)
        except ParseError as error:
            raise UserError(
                self.env._("This is not a mail message: %s", error)
            ) from error

    def _rules(self):
        if self.scope == "chain":
            account = self.account_id or self.message_id.account_id
            if account:
                # _chain reads as superuser: only the chain of an account
                # whose rules the user may read
                account.check_access("read")
                return self.env["crm.mail.rule"]._chain(account)
            return self.env["crm.mail.rule"].search([("account_id", "=", False)])
        if not self.rule_id:
            raise UserError(self.env._("Choose a rule first."))
        return self.rule_id

    def _render(self, rules, results, parsed):
        """The dry-run report: per rule, each condition and its lines."""
        Condition = self.env["crm.mail.rule.condition"]
        field_labels = dict(Condition._fields["field"]._description_selection(self.env))
        op_labels = dict(Condition._fields["operator"]._description_selection(self.env))
        parts = []
        fired = self.env["crm.mail.rule"]
        for rule in rules:
            result = results.get(rule.id)
            if result is None:
                state = self.env._("not reached (an earlier rule stopped processing)")
            elif result.matched:
                state = self.env._("fires")
                fired |= rule
            else:
                state = self.env._("does not fire")
            parts.append(Markup("<h5>%s: %s</h5>") % (rule.name, state))
            if result is None:
                continue
            by_index = {c.index: c for c in result.conditions}
            rows = []
            for index, condition in enumerate(rule.condition_ids):
                outcome = by_index.get(index)
                if outcome is None:
                    mark, lines = "", ""
                else:
                    mark = "✔" if outcome.matched else "✘"
                    lines = ", ".join(outcome.hits) or self.env._("no line matched")
                    if outcome.timed_out:
                        lines += " " + self.env._(
                            "(ran out of time: %s)", ", ".join(outcome.timed_out)
                        )
                what = field_labels.get(condition.field, condition.field)
                if condition.field == "header":
                    what = f"{what} {condition.header_name}"
                rows.append(
                    Markup("<tr><td>%s</td><td>%s %s</td><td>%s</td></tr>")
                    % (mark, what, op_labels.get(condition.operator), lines)
                )
            if rows:
                parts.append(
                    Markup('<table class="table table-sm"><tbody>%s</tbody></table>')
                    % Markup("").join(rows)
                )
            if result.matched:
                parts.append(
                    Markup("<ul>%s</ul>")
                    % Markup("").join(
                        Markup("<li>%s</li>") % line for line in rule._action_summary()
                    )
                )
        parts.append(Markup("<h5>%s</h5>") % self.env._("What would happen"))
        parts.append(Markup("<p>%s</p>") % self._outcome(fired, parsed))
        return Markup("").join(parts)

    def _outcome(self, fired, parsed):
        if not fired:
            return self.env._("No rule fires: the mail is linked and stored as usual.")
        text = self.env._("Rules fired: %s.", ", ".join(fired.mapped("name")))
        if any(fired.mapped("action_ignore")):
            text += " " + self.env._("The mail would not be stored.")
        if any(fired.mapped("action_link_lead")):
            ids = find_lead_ids(parsed.subject)
            lead = self.env["crm.lead"].search([("id", "in", ids)], limit=1)
            if lead:
                text += " " + self.env._("Token of lead: %s.", lead.display_name)
        return escape(text)
