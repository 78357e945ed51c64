from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..mail_engine import rules as engine
from ..mail_engine.patterns import PatternError


class CrmMailRuleCondition(models.Model):
    """One condition of a routing rule: a field, an operator, values."""

    _name = "crm.mail.rule.condition"
    _description = "Mail Routing Rule Condition"
    _order = "sequence, id"

    rule_id = fields.Many2one(
        "crm.mail.rule", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    field = fields.Selection(
        [
            ("from", "From"),
            ("to", "To"),
            ("cc", "Cc"),
            ("subject", "Subject"),
            ("body", "Body"),
            ("header", "Header"),
        ],
        required=True,
        default="from",
    )
    header_name = fields.Char(help="The header looked at, e.g. X-Priority.")
    operator = fields.Selection(
        [
            ("contains", "contains"),
            ("not_contains", "does not contain"),
            ("equals", "is"),
            ("not_equals", "is not"),
            ("starts_with", "starts with"),
            ("ends_with", "ends with"),
            ("regex", "matches regex"),
        ],
        required=True,
        default="contains",
    )
    value = fields.Text(
        required=True,
        help="One value per line: any value may match (for 'does not contain' "
        "and 'is not': none may). In From, To and Cc a line may also list "
        "several addresses separated by commas or semicolons; a subject, body "
        "or header value keeps its commas. Case does not matter.",
    )

    @api.constrains("field", "operator", "value", "header_name")
    def _check_value(self):
        for condition in self:
            try:
                condition._compile()
            except PatternError as error:
                raise ValidationError(condition._error_message(error)) from error

    def write(self, vals):
        res = super().write(vals)
        if "rule_id" in vals:
            # moving a condition is editing the rule it goes to
            self.rule_id.check_access("write")
        return res

    def _compile(self):
        """The engine condition; raises ``PatternError`` when refused."""
        self.ensure_one()
        return engine.compile_condition(
            self.field, self.operator, self.value or "", self.header_name or ""
        )

    def _error_message(self, error):
        reasons = {
            "empty": self.env._("give at least one value"),
            "header_name": self.env._("give the name of the header, e.g. X-Priority"),
            "too_many_lines": self.env._("too many value lines"),
            "too_long": self.env._("the expression is too long"),
            "invalid_regex": self.env._(
                "this is not a valid regular expression (%s)", error
            ),
            "nested_quantifier": self.env._(
                "nested repetition such as (a+)+ can take for ever; "
                "write a simpler expression"
            ),
            "ambiguous_alternation": self.env._(
                "repeated alternatives that overlap, such as (a|aa)*, can take "
                "for ever; make the alternatives distinct"
            ),
        }
        return self.env._(
            "Condition of rule %(rule)s is refused: %(reason)s%(line)s",
            rule=self.rule_id.name or "",
            reason=reasons.get(error.code, str(error)),
            line=f" — {error.detail}" if isinstance(error.detail, str) else "",
        )
