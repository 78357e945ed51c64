"""18.0.2.0.0 (issue #18), after the new code loaded:

- record rules that changed (incoming metadata needs the incoming read
  right): they are ``noupdate`` (an administrator may adjust them), so an
  upgrade does not reload them; their new domains are written here, read
  from the module's own security files (one source of truth);
- deletions queued in the old ``crm_mail_server_deletion`` table move to
  ``crm.mail.server.action``;
- the address index is rebuilt: rows now carry the partner's company and
  cover the fields every company maps, archived partners left out.
"""

import logging
from pathlib import Path

from lxml import etree

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)

MODULE = Path(__file__).resolve().parents[2]
#: security file -> rules whose domain changed in this version
CHANGED_RULES = {
    "security/crm_mail_security.xml": ["crm_mail_fetch_log_rule_user"],
    "security/crm_mail_rule_security.xml": [
        "crm_mail_rule_rule_user",
        "crm_mail_rule_condition_rule_user",
    ],
}


def _domains(path, xmlids):
    tree = etree.parse(str(MODULE / path))
    for xmlid in xmlids:
        (field,) = tree.xpath(f"//record[@id='{xmlid}']/field[@name='domain_force']")
        yield xmlid, field.text.strip()


def _move_queued_deletions(cr):
    cr.execute("SELECT to_regclass('crm_mail_server_deletion')")
    if not cr.fetchone()[0]:
        return
    cr.execute(
        """INSERT INTO crm_mail_server_action
                  (account_id, action, folder_id, imap_uidvalidity, imap_uid,
                   pop3_uidl, date)
           SELECT d.account_id, 'delete', f.id, d.imap_uidvalidity, d.imap_uid,
                  d.pop3_uidl, (now() at time zone 'UTC')
             FROM crm_mail_server_deletion d
        LEFT JOIN crm_mail_folder f
               ON f.account_id = d.account_id AND f.name = d.folder_name
            WHERE d.pop3_uidl IS NOT NULL
               OR (f.id IS NOT NULL AND d.imap_uid IS NOT NULL)
      ON CONFLICT DO NOTHING"""
    )
    _logger.info("%s queued server deletions moved", cr.rowcount)
    # a deletion queued for a place that a stored mail still holds came from
    # a draft given that place by hand (possible before this version): the
    # stored mail must not lose its server copy
    cr.execute(
        """DELETE FROM crm_mail_server_action a
            USING crm_mail_message m
            WHERE m.account_id = a.account_id AND m.folder_id = a.folder_id
              AND m.imap_uidvalidity = a.imap_uidvalidity
              AND m.imap_uid = a.imap_uid
               OR m.account_id = a.account_id AND m.pop3_uidl = a.pop3_uidl"""
    )
    _logger.info("%s queued deletions of stored mails dropped", cr.rowcount)
    # its model is gone with this version; Odoo forgets it, the table stays
    cr.execute("DROP TABLE crm_mail_server_deletion")


def migrate(cr, version):
    for path, xmlids in CHANGED_RULES.items():
        for xmlid, domain in _domains(path, xmlids):
            cr.execute(
                """UPDATE ir_rule SET domain_force = %s
                    WHERE id = (SELECT res_id FROM ir_model_data
                                 WHERE module = 'crm_mail_client'
                                   AND model = 'ir.rule' AND name = %s)""",
                (domain, xmlid),
            )
            _logger.info("Record rule %s: new domain %s", xmlid, domain)
    _move_queued_deletions(cr)
    # unsent mail never had a place on the server, nor a key of its own:
    # what a user may have set by hand before this version goes
    cr.execute(
        """UPDATE crm_mail_message m
              SET folder_id = NULL, imap_uid = NULL, imap_uidvalidity = NULL,
                  pop3_uidl = NULL, server_deleted = false,
                  dedupe_key = CASE WHEN EXISTS (
                      SELECT 1 FROM crm_mail_message o
                       WHERE o.account_id = m.account_id AND o.id <> m.id
                         AND o.dedupe_key = m.message_id)
                  THEN NULL ELSE m.message_id END
            WHERE m.direction = 'outgoing'
              AND m.state IN ('draft', 'outgoing', 'error')
              AND (m.folder_id IS NOT NULL OR m.imap_uid IS NOT NULL
                   OR m.pop3_uidl IS NOT NULL
                   OR m.dedupe_key IS DISTINCT FROM m.message_id)"""
    )
    _logger.info("%s unsent mails cleared of server fields", cr.rowcount)
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["crm.mail.address"]._rebuild()
