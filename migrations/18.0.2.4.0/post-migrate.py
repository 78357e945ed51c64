"""18.0.2.4.0: rights lines for a sales team or a user group (#23).

The record rules now read a line's ``member_ids`` (its user, the team's
members, the group's users) instead of its ``user_id``. They are declared
``noupdate``: an upgrade would keep the old domains, so they are rewritten
here. ``member_ids`` itself is computed by the upgrade (a new stored field).
"""

import logging

_logger = logging.getLogger(__name__)

#: the old domain terms and the new, in the module's own rules
REPLACEMENTS = (
    ("'any', [('user_id', '=', user.id)", "'any', [('member_ids', 'in', user.id)"),
    (
        "('access_ids.user_id', '=', user.id)",
        "('access_ids.member_ids', 'in', user.id)",
    ),
    (
        "('account_id.access_ids.user_id', '=', user.id)",
        "('account_id.access_ids.member_ids', 'in', user.id)",
    ),
)
#: the rule on the lines themselves: a user sees his own (now also his
#: team's and group's)
OWN_LINES = (
    "['|', '|', ('user_id', '=', user.id),",
    "['|', '|', ('member_ids', 'in', user.id),",
)


def migrate(cr, version):
    cr.execute(
        """SELECT r.id, d.name, r.domain_force FROM ir_rule r
             JOIN ir_model_data d ON d.model = 'ir.rule' AND d.res_id = r.id
            WHERE d.module = 'crm_mail_client'"""
    )
    changed = 0
    for rule_id, name, domain in cr.fetchall():
        new = domain or ""
        for old, replacement in REPLACEMENTS:
            new = new.replace(old, replacement)
        if name == "crm_mail_account_access_rule_user":
            new = new.replace(*OWN_LINES)
        if new != domain:
            cr.execute(
                "UPDATE ir_rule SET domain_force = %s WHERE id = %s", (new, rule_id)
            )
            changed += 1
    _logger.info("crm_mail_client: %s record rules now read rights by member.", changed)
