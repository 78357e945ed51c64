"""18.0.2.0.0: record rules that changed (issue #18: incoming metadata needs
the incoming read right).

The rules are ``noupdate`` (an administrator may adjust them), so an
upgrade does not reload them: their new domains are written here, read
from the module's own security files so that there is one source of truth.
"""

import logging
from pathlib import Path

from lxml import etree

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
        (field,) = tree.xpath(
            f"//record[@id='{xmlid}']/field[@name='domain_force']"
        )
        yield xmlid, field.text.strip()


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
