"""18.0.2.1.0: lists show the start of each mail's text (``snippet``, #21).

The column is created and filled here, in one statement, before the new code
loads: the ORM would otherwise compute it mail by mail in Python, holding a
million mails in memory. Quoted lines of old mail are not left out here as
they are for new mail (a list shows the first words either way).
"""

import logging

_logger = logging.getLogger(__name__)

SNIPPET_SQL = r"""
UPDATE crm_mail_message SET snippet = left(btrim(regexp_replace(
    replace(replace(replace(replace(
        coalesce(nullif(body_text, ''),
                 regexp_replace(coalesce(body_html, ''), '<[^>]*>', ' ', 'g')),
        '&nbsp;', ' '), '&lt;', '<'), '&gt;', '>'), '&amp;', '&'),
    '\s+', ' ', 'g')), 160)
 WHERE snippet IS NULL
"""


def migrate(cr, version):
    cr.execute("ALTER TABLE crm_mail_message ADD COLUMN IF NOT EXISTS snippet varchar")
    cr.execute(SNIPPET_SQL)
    _logger.info("Snippets written for %s mails.", cr.rowcount)
