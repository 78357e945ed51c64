import logging

from markupsafe import Markup

from odoo import api, fields, models

from ..mail_engine.compose import find_lead_ids
from .crm_mail_rule import LEAD_RULE_FIELDS

_logger = logging.getLogger(__name__)

#: key of the values of a new mail (popped before create): post it on its lead
POST_ON_LEAD = "_crm_mail_post_on_lead"


class CrmMailMessage(models.Model):
    """Routing rules applied to a fetched mail before it is created."""

    _inherit = "crm.mail.message"

    rule_ids = fields.Many2many(
        "crm.mail.rule",
        "crm_mail_message_rule_rel",
        "message_id",
        "rule_id",
        string="Rules Fired",
        readonly=True,
        copy=False,
    )

    @api.model
    def _apply_rules(self, account, parsed, vals, rules):
        """Change the values of a new mail as the fired rules say.

        Rules apply in order, a later one overriding an earlier one. Values
        no rule sets keep the default (linking and the unknown-sender policy
        already ran). A lead is created at most once, and not when the mail
        joins an existing lead; the lead the unknown-sender policy just made
        for this mail takes the rule's team, salesperson and tags instead.

        :param account: the ``crm.mail.account``
        :param parsed: the :class:`~..mail_engine.mime.ParsedMessage`
        :param dict vals: values of the mail about to be created
        :param rules: the ``crm.mail.rule`` records that fired, in order
        :return: the updated values
        """
        vals = dict(vals, rule_ids=[fields.Command.set(rules.ids)])
        policy_lead = self.env["crm.lead"].sudo().browse(vals.get("lead_id") or [])
        fixed = self.env["crm.lead"].sudo()
        for rule in rules:
            lead = rule.action_lead_id.sudo()
            if lead and lead.company_id in (account.company_id, lead.browse()):
                fixed = lead
            if rule.action_link != "none":
                vals.update(self._rule_link_vals(account, parsed, rule.action_link))
            assignee = rule.action_assign_user_id
            if assignee and account.company_id in assignee.company_ids:
                vals["user_id"] = assignee.id
            if rule.action_review_state:
                vals["review_state"] = rule.action_review_state
        existing = made = self.env["crm.lead"]
        if fixed:
            if policy_lead and policy_lead != fixed:
                # made a moment ago for this mail only: one mail, one lead
                policy_lead.unlink()
            vals["lead_id"] = fixed.id
            existing = fixed
        elif any(rules.mapped("action_link_lead")):
            existing = self._rule_find_lead(account, parsed, vals)
            if existing:
                if policy_lead and policy_lead != existing:
                    # made a moment ago for this mail only: one mail, one lead
                    policy_lead.unlink()
                vals["lead_id"] = existing.id
        creators = rules.filtered("action_create_lead")
        if creators and not existing:
            lead_vals = creators[-1]._lead_vals(account, parsed, vals)
            if policy_lead:
                policy_lead.write(
                    {k: v for k, v in lead_vals.items() if k in LEAD_RULE_FIELDS and v}
                )
            else:
                made = self.env["crm.lead"].sudo().create(lead_vals)
                vals["lead_id"] = made.id
        # what a rule writes into the lead: only a lead an administrator
        # chose (fixed) or one made for this mail (by the policy or a rule),
        # never one a sender named by a [#L<id>] token or a thread
        lead = self.env["crm.lead"].sudo().browse(vals.get("lead_id") or [])
        own_lead = bool(lead) and lead in (fixed | made | policy_lead.exists())
        salesperson = rules.filtered("action_lead_user_id")[-1:].action_lead_user_id
        if own_lead and salesperson and account.company_id in salesperson.company_ids:
            lead.user_id = salesperson
        if own_lead and any(rules.mapped("action_post_on_lead")):
            vals[POST_ON_LEAD] = True
        return vals

    def _post_on_lead(self):
        """A rule asked for the mail itself on its lead: its text as an
        internal note (never mailed to the lead's followers)."""
        for mail in self.sudo().filtered("lead_id"):
            body = mail.body_html or Markup("<pre>%s</pre>") % (mail.body_text or "")
            header = Markup("<p><b>%s</b> — %s</p>") % (
                mail.subject or self.env._("(no subject)"),
                mail.from_name or mail.email_from or "",
            )
            mail.lead_id.with_context(mail_create_nosubscribe=True).message_post(
                body=header + Markup(body),
                subtype_xmlid="mail.mt_note",
                author_id=(mail.contact_id or mail.partner_id).id or None,
            )

    @api.model
    def _rule_link_vals(self, account, parsed, which):
        """Contact and customer found from the sender or the recipients."""
        if which == "from":
            addresses = [parsed.email_from]
        else:
            addresses = [address for _name, address in parsed.to + parsed.cc]
        return self._match_partner(addresses, account.company_id)

    @api.model
    def _rule_find_lead(self, account, parsed, vals):
        """The lead of the ``[#L<id>]`` token in the subject, else the lead
        of the mail this one answers (its thread)."""
        Lead = self.env["crm.lead"].sudo()
        ids = find_lead_ids(parsed.subject)
        if ids:
            found = Lead.search(
                [
                    ("id", "in", ids),
                    ("company_id", "in", [account.company_id.id, False]),
                ]
            )
            for lead_id in ids:
                if lead_id in found.ids:
                    return Lead.browse(lead_id)
        parent = self.sudo().browse(vals.get("parent_id") or [])
        return parent.lead_id or parent.thread_root_id.lead_id
