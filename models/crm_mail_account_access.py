from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

FLAGS = [
    "in_read",
    "in_write",
    "in_unlink",
    "in_manage",
    "out_send",
    "out_default",
    "out_read",
    "out_write",
    "out_unlink",
    "out_manage",
]
MANAGER_GROUP = "crm_mail_client.group_mail_manager"
#: the rights a role stands for (``out_default``, the From chosen first, is
#: a preference, not a right: no role sets or needs it)
ROLES = {
    "reader": {"in_read"},
    "sender": {"in_read", "out_send", "out_read"},
    "manager": set(FLAGS) - {"out_default"},
}


class CrmMailAccountAccess(models.Model):
    """What one user, one sales team or one user group may do with the mail
    of one account.

    Record rules read these lines (``security/crm_mail_security.xml``)
    through ``member_ids``: the users a line stands for (its user, the
    team's members, the group's users), kept up to date as teams and groups
    change. The effective right of a user is the union of his lines. The
    owner of a personal account and the administrators need none.
    """

    _name = "crm.mail.account.access"
    _description = "Mail Account Rights"
    _order = "account_id, user_id"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    user_id = fields.Many2one("res.users", ondelete="cascade", index=True)
    team_id = fields.Many2one(
        "crm.team",
        string="Sales Team",
        ondelete="cascade",
        index="btree_not_null",
        help="Every member of the team has these rights.",
    )
    group_id = fields.Many2one(
        "res.groups",
        string="User Group",
        ondelete="cascade",
        index="btree_not_null",
        help="Every user of the group has these rights.",
    )
    member_ids = fields.Many2many(
        "res.users",
        string="Users",
        compute="_compute_member_ids",
        search="_search_member_ids",
        help="The users this line gives rights to: its user, the team's "
        "members, the group's users (as they are now).",
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    in_read = fields.Boolean(string="Read Incoming", default=True)
    in_write = fields.Boolean(
        string="Edit Incoming", help="E.g. change the linked company."
    )
    in_unlink = fields.Boolean(string="Delete Incoming")
    in_manage = fields.Boolean(
        string="Manage Incoming Rights",
        help="May add and remove rights on this account.",
    )
    out_send = fields.Boolean(string="Send", help="May send mail from this account.")
    out_default = fields.Boolean(
        string="Default Sender", help="This account fills From for this user."
    )
    out_read = fields.Boolean(string="Read Outgoing")
    out_write = fields.Boolean(string="Edit Outgoing")
    out_unlink = fields.Boolean(string="Delete Outgoing")
    out_manage = fields.Boolean(string="Manage Outgoing Rights")

    role = fields.Selection(
        [
            ("reader", "Reader"),
            ("sender", "Sender"),
            ("manager", "Manager"),
            ("custom", "Custom"),
        ],
        compute="_compute_role",
        inverse="_inverse_role",
        help="Reader: reads incoming mail. Sender: also sends, and reads what "
        "was sent. Manager: every right, also editing, deleting and giving "
        "rights. Custom: the flags as set one by one.",
    )

    _sql_constraints = [
        (
            "account_user_uniq",
            "UNIQUE(account_id, user_id)",
            "One line per user and account.",
        ),
        (
            "account_team_uniq",
            "UNIQUE(account_id, team_id)",
            "One line per sales team and account.",
        ),
        (
            "account_group_uniq",
            "UNIQUE(account_id, group_id)",
            "One line per user group and account.",
        ),
        (
            "one_holder",
            "CHECK(num_nonnulls(user_id, team_id, group_id) = 1)",
            "A rights line names a user, a sales team or a user group: exactly one.",
        ),
    ]

    @api.depends(
        "user_id",
        "team_id.crm_team_member_ids.user_id",
        "team_id.crm_team_member_ids.active",
        "team_id.active",
        "group_id.users",
    )
    def _compute_member_ids(self):
        for line in self:
            line.member_ids = self._members(line.user_id, line.team_id, line.group_id)

    @api.model
    def _members(self, user, team, group):
        """Who a line with this holder stands for now: the user, the active
        members of an active team, or the group's users (read as the
        superuser, whatever companies the reader works in)."""
        team = team.sudo().filtered("active")
        return (
            user
            | team.crm_team_member_ids.filtered("active").user_id
            | group.sudo().users
        )

    def _search_member_ids(self, operator, value):
        """Lines standing for these users, found through their team and group
        memberships of now (record rules use it). The memberships are read
        as the superuser, whatever companies the user works in, and only
        active members of active teams count.

        :param operator: ``in`` or ``=`` (user ids), or ``ilike`` (a name)
        """
        Users = self.env["res.users"].sudo().with_context(active_test=False)
        if operator in ("ilike", "like", "=ilike") and isinstance(value, str):
            ids = Users._search([("name", operator, value)])
        elif operator in ("in", "=") and value:
            ids = [value] if isinstance(value, int) else list(value)
        else:
            raise NotImplementedError(f"member_ids {operator} {value!r}")
        teams = (
            self.env["crm.team.member"]
            .sudo()
            .search([("user_id", "in", ids), ("crm_team_id.active", "=", True)])
            .crm_team_id
        )
        groups = self.env["res.groups"].sudo().search([("users", "in", ids)])
        return [
            "|",
            "|",
            ("user_id", "in", ids),
            ("team_id", "in", teams.ids),
            ("group_id", "in", groups.ids),
        ]

    @api.depends(*FLAGS)
    def _compute_role(self):
        for line in self:
            granted = {flag for flag in FLAGS if line[flag]} - {"out_default"}
            line.role = next(
                (role for role, flags in ROLES.items() if flags == granted), "custom"
            )

    def _role_flags(self):
        flags = ROLES[self.role]
        return {f: f in flags for f in FLAGS if f != "out_default"}

    def _inverse_role(self):
        for line in self.filtered(lambda rec: rec.role in ROLES):
            line.write(line._role_flags())

    @api.onchange("role")
    def _onchange_role(self):
        # the flags follow on the screen at once, not only once saved
        if self.role in ROLES:
            self.update(self._role_flags())

    @api.constrains("out_default", "user_id")
    def _check_one_default(self):
        for line in self.filtered("out_default"):
            if not line.user_id:
                raise ValidationError(
                    self.env._(
                        "Default Sender is one user's choice: it cannot be set "
                        "for a sales team or a user group."
                    )
                )
            others = self.sudo().search_count(
                [
                    ("user_id", "=", line.user_id.id),
                    ("out_default", "=", True),
                    ("id", "!=", line.id),
                ]
            )
            if others:
                raise ValidationError(
                    self.env._(
                        "%(user)s already sends from another default account.",
                        user=line.user_id.name,
                    )
                )

    # ------------------------------------------------------------
    # ORM: what record rules cannot say
    # ------------------------------------------------------------

    def _check_holders(self, vals_list):
        """Team and group lines are mail administrators' own: whoever may
        change a team's members or a group's users would otherwise give
        himself the line's rights (a sales manager edits teams)."""
        if self.env.su or self.env.user.has_group(MANAGER_GROUP):
            return
        if any(vals.get("team_id") or vals.get("group_id") for vals in vals_list):
            raise AccessError(
                self.env._(
                    "Only mail administrators give rights to a sales team or a "
                    "user group: their members change without them."
                )
            )

    def _check_manage(self, changes):
        """What record rules cannot say: a non-administrator changes lines of
        the accounts he manages only, on the side he manages, never his own.

        :param list changes: tuples (account id, user ids the change
            concerns, touches incoming flags, touches outgoing flags)
        """
        if self.env.su or self.env.user.has_group(MANAGER_GROUP):
            return
        uid = self.env.uid
        Account = self.env["crm.mail.account"].sudo()
        for account_id, user_ids, touches_in, touches_out in changes:
            account = Account.browse(account_id)
            if account.user_id.id == uid:
                continue  # the owner of a personal account manages it
            mine = self.sudo().search(
                [("account_id", "=", account_id), ("member_ids", "in", uid)]
            )
            in_manage = any(mine.mapped("in_manage"))
            out_manage = any(mine.mapped("out_manage"))
            allowed = (in_manage or out_manage) and not (
                (touches_in and not in_manage) or (touches_out and not out_manage)
            )
            if not allowed:
                raise AccessError(
                    self.env._("You may not manage the rights of %s.", account.name)
                )
            if uid in user_ids:
                raise AccessError(self.env._("You may not change your own rights."))

    @staticmethod
    def _sides(flags):
        return (
            any(f.startswith("in_") for f in flags),
            any(f.startswith("out_") for f in flags),
        )

    @api.model_create_multi
    def create(self, vals_list):
        # a flag left out takes its default (Read Incoming is on): it is
        # granted all the same
        defaults = self.default_get(FLAGS)
        self._check_holders(vals_list)
        self._check_manage(
            [
                (
                    vals.get("account_id"),
                    self._users_of(vals),
                    *self._sides([f for f in FLAGS if vals.get(f, defaults.get(f))]),
                )
                for vals in vals_list
            ]
        )
        return super().create(vals_list)

    @api.model
    def _users_of(self, vals):
        """Ids of the users a line with these values would stand for."""
        members = self._members(
            self.env["res.users"].sudo().browse(vals.get("user_id") or []),
            self.env["crm.team"].browse(vals.get("team_id") or []),
            self.env["res.groups"].browse(vals.get("group_id") or []),
        )
        return set(members.ids)

    def write(self, vals):
        manager = self.env.su or self.env.user.has_group(MANAGER_GROUP)
        if not manager and (self.team_id or self.group_id):
            self._check_holders([{"team_id": True}])
        self._check_holders([vals])
        if not manager and any(
            line.account_id.id != vals.get("account_id", line.account_id.id)
            for line in self
        ):
            raise AccessError(self.env._("A right cannot move to another account."))
        changes = []
        holders = ("user_id", "team_id", "group_id")
        for line in self:
            if any(name in vals and vals[name] != line[name].id for name in holders):
                # the line's rights go to other users: all of them count,
                # for those who lose them and those who get them
                flags = [f for f in FLAGS if vals.get(f, line[f]) or line[f]]
                new = {name: vals.get(name, line[name].id) for name in holders}
                users = set(line.member_ids.ids) | self._users_of(new)
            else:
                flags = [f for f in FLAGS if f in vals and vals[f] != line[f]]
                users = set(line.member_ids.ids)
            changes.append((line.account_id.id, users, *self._sides(flags)))
        self._check_manage(changes)
        return super().write(vals)

    def unlink(self):
        self._check_manage(
            [
                (
                    line.account_id.id,
                    set(line.member_ids.ids),
                    *self._sides([f for f in FLAGS if line[f]]),
                )
                for line in self
            ]
        )
        return super().unlink()
