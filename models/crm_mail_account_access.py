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
    """What one user may do with the mail of one account.

    Record rules read these lines (``security/crm_mail_security.xml``); the
    owner of a personal account and the administrators need none.
    """

    _name = "crm.mail.account.access"
    _description = "Mail Account Rights"
    _order = "account_id, user_id"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    user_id = fields.Many2one(
        "res.users", required=True, ondelete="cascade", index=True
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
        )
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
                [("account_id", "=", account_id), ("user_id", "=", uid)], limit=1
            )
            allowed = (mine.in_manage or mine.out_manage) and not (
                (touches_in and not mine.in_manage)
                or (touches_out and not mine.out_manage)
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
        self._check_manage(
            [
                (
                    vals.get("account_id"),
                    {vals.get("user_id")},
                    *self._sides([f for f in FLAGS if vals.get(f, defaults.get(f))]),
                )
                for vals in vals_list
            ]
        )
        return super().create(vals_list)

    def write(self, vals):
        manager = self.env.su or self.env.user.has_group(MANAGER_GROUP)
        if not manager and any(
            line.account_id.id != vals.get("account_id", line.account_id.id)
            for line in self
        ):
            raise AccessError(self.env._("A right cannot move to another account."))
        changes = []
        for line in self:
            if "user_id" in vals and vals["user_id"] != line.user_id.id:
                # the line's rights go to another user: all of them count,
                # for the one who loses them and the one who gets them
                flags = [f for f in FLAGS if vals.get(f, line[f]) or line[f]]
                users = {line.user_id.id, vals["user_id"]}
            else:
                flags = [f for f in FLAGS if f in vals and vals[f] != line[f]]
                users = {line.user_id.id}
            changes.append((line.account_id.id, users, *self._sides(flags)))
        self._check_manage(changes)
        return super().write(vals)

    def unlink(self):
        self._check_manage(
            [
                (
                    line.account_id.id,
                    {line.user_id.id},
                    *self._sides([f for f in FLAGS if line[f]]),
                )
                for line in self
            ]
        )
        return super().unlink()
