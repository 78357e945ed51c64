import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import plaintext2html

from ..mail_engine import rules as engine
from ..mail_engine.patterns import PatternError
from .hit_counter import flush_hits

_logger = logging.getLogger(__name__)

MANAGER_GROUP = "crm_mail_client.group_mail_manager"
#: fields only administrators change: they decide who may edit a rule
MANAGER_FIELDS = {"account_id", "allow_owner_edit"}
#: actions that write into leads others may own: administrators set them
LEAD_WRITE_FIELDS = {"action_lead_id", "action_lead_user_id", "action_post_on_lead"}
#: per-run cache keys (the ``cache`` dict of ``_ingest_raw``)
CACHE_RULES = "routing_rules"
CACHE_HITS = "rule_hits"
#: what a rule sets on a lead the unknown-sender policy already created
LEAD_RULE_FIELDS = ("team_id", "user_id", "tag_ids")


class CrmMailRule(models.Model):
    """A routing rule: conditions on an incoming mail, and what to do with it.

    Global rules (no account) run first, then the account's own rules, each
    in sequence order; the matching itself is :mod:`..mail_engine.rules`.
    """

    _name = "crm.mail.rule"
    _description = "Mail Routing Rule"
    _order = "sequence, id"

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    account_id = fields.Many2one(
        "crm.mail.account",
        ondelete="cascade",
        index=True,
        help="Empty: a global rule, run for every account before the "
        "account's own rules.",
    )
    match = fields.Selection(
        [("all", "All conditions"), ("any", "Any condition")],
        required=True,
        default="all",
        help="A rule without conditions applies to every incoming mail.",
    )
    condition_ids = fields.One2many(
        "crm.mail.rule.condition", "rule_id", string="Conditions", copy=True
    )
    allow_owner_edit = fields.Boolean(
        string="Owner May Edit",
        help="The owner of the account may change this rule.",
    )
    hit_count = fields.Integer(string="Hits", readonly=True, copy=False)
    last_hit = fields.Datetime(readonly=True, copy=False)
    # actions
    action_create_lead = fields.Boolean(
        string="Create Lead",
        help='Create a CRM lead named "Customer — Subject", unless the mail is '
        "linked to an existing lead.",
    )
    lead_team_id = fields.Many2one(
        "crm.team", string="Lead Sales Team", ondelete="set null"
    )
    lead_user_id = fields.Many2one(
        "res.users", string="Lead Salesperson", ondelete="set null"
    )
    lead_tag_ids = fields.Many2many("crm.tag", string="Lead Tags")
    action_link = fields.Selection(
        [
            ("none", "As usual"),
            ("from", "Sender (From)"),
            ("to", "Recipients (To, Cc)"),
        ],
        string="Link to Contact",
        required=True,
        default="none",
        help="Link the mail to the contact and company found from these addresses.",
    )
    action_link_lead = fields.Boolean(
        string="Link to Existing Lead",
        help="By the [#L<id>] token in the subject, else by the lead of the "
        "mail it answers.",
    )
    action_assign_user_id = fields.Many2one(
        "res.users", string="Assign To", ondelete="set null"
    )
    action_lead_id = fields.Many2one(
        "crm.lead",
        string="Link to This Lead",
        ondelete="set null",
        help="File the mail into this lead or opportunity (a tender, a big "
        "deal: every mail of it in one place).",
    )
    action_post_on_lead = fields.Boolean(
        string="Post the Mail on the Lead",
        help="The mail's text goes into the lead's chatter as an internal "
        "note, not only a short line: whoever reads the lead reads it there.",
    )
    action_lead_user_id = fields.Many2one(
        "res.users",
        string="Assign the Lead To",
        ondelete="set null",
        help="The lead the mail is linked to gets this salesperson.",
    )
    action_review_state = fields.Selection(
        [("new", "New"), ("reviewed", "Reviewed")], string="Set Review State"
    )
    action_ignore = fields.Boolean(
        string="Do Not Store", help="The mail is not stored (the fetch log says so)."
    )
    action_delete_from_server = fields.Boolean(
        string="Delete from Server",
        help="Delete the mail on the server once it is processed and committed.",
    )
    stop_processing = fields.Boolean(
        help="Later rules are not applied when this rule fires."
    )
    user_may_read = fields.Boolean(
        compute="_compute_user_may_read",
        search="_search_user_may_read",
        help="Technical: the conditions of a rule tell what its account "
        "receives; they are read with the right to read incoming mail.",
    )
    message_ids = fields.Many2many(
        "crm.mail.message",
        "crm_mail_message_rule_rel",
        "rule_id",
        "message_id",
        string="Mails",
        readonly=True,
        copy=False,
    )

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    def _compute_user_may_read(self):
        # a record the user got hold of passed the record rule that uses
        # the search below
        self.user_may_read = True

    def _search_user_may_read(self, operator, value):
        """Rules of the accounts whose incoming mail the user reads (owner
        or *Read Incoming*), and the global rules when there is any."""
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(f"user_may_read {operator} {value!r}")
        # record rules evaluate this as superuser for the user: ask his groups
        if self.env.user.has_group(MANAGER_GROUP):
            readable = [(1, "=", 1)]
        else:
            accounts = (
                self.env["crm.mail.account"]
                .sudo()
                .with_context(active_test=False)
                .search(
                    [
                        "|",
                        ("user_id", "=", self.env.uid),
                        (
                            "access_ids",
                            "any",
                            [
                                ("member_ids", "in", self.env.uid),
                                ("in_read", "=", True),
                            ],
                        ),
                    ]
                )
            )
            readable = [("account_id", "in", accounts.ids)]
            if accounts:
                readable = ["|", ("account_id", "=", False), *readable]
        if (operator == "=") != value:
            return ["!", *readable]  # readable is one expression
        return readable

    # ------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------

    def _is_manager(self):
        return self.env.su or self.env.user.has_group(MANAGER_GROUP)

    def write(self, vals):
        # record rules are checked before a write, not on the new values: an
        # owner must not make his rule global or hand it to another account
        if MANAGER_FIELDS & set(vals) and not self._is_manager():
            raise AccessError(
                self.env._(
                    "Only mail administrators may change the account of a rule "
                    "or whether its owner may edit it."
                )
            )
        if LEAD_WRITE_FIELDS & set(vals) and not self._is_manager():
            raise AccessError(
                self.env._(
                    "Only mail administrators may make a rule file mail into a "
                    "chosen lead, post it there or reassign the lead."
                )
            )
        return super().write(vals)

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        for rule, vals in zip(self, vals_list, strict=True):
            vals.setdefault("name", self.env._("%s (copy)", rule.name))
        return vals_list

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_test(self):
        """Open the dry run on this rule."""
        self.ensure_one()
        return self.env["crm.mail.rule.test"]._open(self)

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_message_action"
        )
        action["domain"] = [("rule_ids", "in", self.ids)]
        action["context"] = {}
        return action

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    @api.model
    def _chain(self, account):
        """Active rules for an account, in the order they run: global
        rules first, then the account's own, each by sequence."""
        rules = self.sudo().search(
            ["|", ("account_id", "=", False), ("account_id", "=", account.id)]
        )
        return rules.sorted(lambda r: (bool(r.account_id), r.sequence, r.id))

    def _compile(self):
        """Engine rules for these records, in order; a rule that no longer
        passes the checks (saved before they got stricter) is skipped."""
        compiled = []
        for rule in self:
            try:
                conditions = [c._compile() for c in rule.condition_ids]
                compiled.append(
                    engine.compile_rule(
                        rule.id, rule.match, conditions, stop=rule.stop_processing
                    )
                )
            except PatternError as error:
                _logger.warning("Mail rule %s skipped: %s", rule.id, error)
        return compiled

    @api.model
    def _route(self, account, parsed, cache):
        """The rules that fire for a fetched mail, their hits counted in
        the cache (written by :meth:`_flush_hits`, once for a batch).

        :param account: the ``crm.mail.account`` the mail came from
        :param parsed: the :class:`~..mail_engine.mime.ParsedMessage`
        :param dict cache: the fetch run's cache; rules are compiled once
            per run and kept there
        :return: ``crm.mail.rule`` recordset, in the order they fired
        """
        if CACHE_RULES not in cache:
            cache[CACHE_RULES] = self._chain(account)._compile()
        chain = cache[CACHE_RULES]
        if not chain:
            return self.browse()
        try:
            results = engine.route(chain, parsed)
        except Exception:  # noqa: BLE001 - a rule bug must not lose the mail
            _logger.exception("Mail rules failed on mail %s.", parsed.message_id)
            return self.browse()
        for result in results:
            late = [line for c in result.conditions for line in c.timed_out]
            if late:
                _logger.info(
                    "Mail rule %s: regex %s ran out of time on mail %s.",
                    result.key,
                    late,
                    parsed.message_id,
                )
        fired = self.sudo().browse(engine.fired(results))
        if account.skip_own_rules_after_global and fired.filtered(
            lambda r: not r.account_id
        ):
            # Prostoy's order: a global rule that fired settles the mail
            fired = fired.filtered(lambda r: not r.account_id)
        if fired:
            hits = cache.setdefault(CACHE_HITS, {})
            for rule_id in fired.ids:
                hits[rule_id] = hits.get(rule_id, 0) + 1
        return fired

    @api.model
    def _flush_hits(self, cache):
        """Write the hits :meth:`_route` kept in the run's cache."""
        flush_hits(self.sudo(), cache.get(CACHE_HITS) or {})

    def _lead_vals(self, account, parsed, mail_vals):
        """Values of the lead this rule creates for a mail.

        :param dict mail_vals: values of the mail (its contact and customer)
        """
        self.ensure_one()
        partner_id = mail_vals.get("contact_id") or mail_vals.get("partner_id")
        vals = {
            "name": self.env["crm.mail.message"]._lead_name(
                parsed.subject,
                self.env["res.partner"].browse(partner_id),
                parsed.from_name,
                parsed.email_from,
                account.company_id,
            ),
            "description": plaintext2html((parsed.body_text or "")[:10000]),
            "partner_id": partner_id or False,
            "email_from": parsed.email_from or False,
            "contact_name": parsed.from_name or False,
            # explicit: not the user the fetch runs as
            "user_id": self.lead_user_id.id or False,
            "company_id": account.company_id.id,
        }
        # a global rule serves every company: what belongs to another one
        # is left out (the lead would be refused, and the mail with it)
        company = account.company_id
        if self.lead_user_id and company not in self.lead_user_id.company_ids:
            vals["user_id"] = False
        if self.lead_team_id and self.lead_team_id.company_id in (
            company,
            company.browse(),
        ):
            vals["team_id"] = self.lead_team_id.id
        if self.lead_tag_ids:
            vals["tag_ids"] = [fields.Command.link(t) for t in self.lead_tag_ids.ids]
        return vals

    def _action_summary(self):
        """What this rule does, one translated line per action."""
        self.ensure_one()
        lines = []
        if self.action_ignore:
            lines.append(self.env._("The mail is not stored."))
        if self.action_link_lead:
            lines.append(
                self.env._("Link to the lead of the [#L<id>] token or of the thread.")
            )
        if self.action_create_lead:
            lines.append(
                self.env._(
                    "Create a lead (team: %(team)s, salesperson: %(user)s, "
                    "tags: %(tags)s).",
                    team=self.lead_team_id.name or "-",
                    user=self.lead_user_id.name or "-",
                    tags=", ".join(self.lead_tag_ids.mapped("name")) or "-",
                )
            )
        if self.action_link != "none":
            lines.append(
                self.env._(
                    "Link to the contact found from %s.",
                    dict(self._fields["action_link"]._description_selection(self.env))[
                        self.action_link
                    ],
                )
            )
        if self.action_assign_user_id:
            lines.append(self.env._("Assign to %s.", self.action_assign_user_id.name))
        if self.action_review_state:
            lines.append(
                self.env._(
                    "Set the review state to %s.",
                    dict(
                        self._fields["action_review_state"]._description_selection(
                            self.env
                        )
                    )[self.action_review_state],
                )
            )
        if self.action_delete_from_server:
            lines.append(
                self.env._("Delete the mail from the server after the commit.")
            )
        if self.stop_processing:
            lines.append(self.env._("Stop: later rules are not applied."))
        return lines
