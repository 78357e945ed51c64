"""18.0.2.0.0: IMAP UIDs and UIDVALIDITY are unsigned 32-bit (issue #18).

They were ``integer`` columns, which end at 2,147,483,647: a server whose
UIDVALIDITY or UIDs lie above (RFC 3501's own example is 3857529045) could
not be fetched. They become ``bigint`` before the new code loads.
"""

import logging

_logger = logging.getLogger(__name__)

COLUMNS = {
    "crm_mail_message": ("imap_uid", "imap_uidvalidity"),
    "crm_mail_folder": ("uidvalidity", "last_uid"),
}


def migrate(cr, version):
    for table, columns in COLUMNS.items():
        for column in columns:
            cr.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE bigint')
            _logger.info("%s.%s is now bigint", table, column)
