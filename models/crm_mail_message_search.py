import logging

from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

#: PostgreSQL's "russian" configuration stems Russian words with the Russian
#: snowball stemmer and ASCII words with the English one: one index serves
#: both languages (заказы ~ заказ, invoices ~ invoice) without guessing the
#: language of each mail, which fails on the mixed mails a sales team gets
TS_CONFIG = "russian"
#: characters of the body looked at (a tsvector holds at most 1 MB)
BODY_CHARS = 200_000

#: the searchable text of a mail, weighted: subject (A), people and file
#: names (B), body (D). Addresses and file names are also cut at @ . _ - so
#: that "romashka" finds ivan@romashka.example and "invoice" invoice_12.pdf.
FULLTEXT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION crm_mail_fulltext(
    subject text, people text, attachment_names text, body_text text, body_html text
) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('{TS_CONFIG}', coalesce(subject, '')), 'A')
        || setweight(to_tsvector('{TS_CONFIG}',
               coalesce(people, '') || ' '
               || regexp_replace(coalesce(people, ''), '[@._+<>"-]', ' ', 'g')), 'B')
        || setweight(to_tsvector('{TS_CONFIG}',
               coalesce(attachment_names, '') || ' '
               || regexp_replace(coalesce(attachment_names, ''), '[._-]', ' ', 'g')),
               'B')
        || setweight(to_tsvector('{TS_CONFIG}', left(
               coalesce(nullif(body_text, ''),
                        regexp_replace(coalesce(body_html, ''), '<[^>]*>', ' ', 'g')),
               {BODY_CHARS})), 'D')
$$;
CREATE OR REPLACE FUNCTION crm_mail_message_fulltext_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.fulltext := crm_mail_fulltext(
        NEW.subject,
        concat_ws(' ', NEW.from_name, NEW.email_from, NEW.email_to, NEW.email_cc),
        NEW.attachment_names, NEW.body_text, NEW.body_html);
    RETURN NEW;
END
$$;
"""
#: the columns the text is made of: a change of one recomputes it
FULLTEXT_SOURCES = (
    "subject",
    "from_name",
    "email_from",
    "email_to",
    "email_cc",
    "attachment_names",
    "body_text",
    "body_html",
)


class FullText(fields.Char):
    """The searchable text of a mail, a PostgreSQL ``tsvector`` column.

    Written by the database (the trigger above), never by the ORM, never
    read (no prefetch): it exists to be searched. To the web client it is a
    text field, so the search view offers it like one.
    """

    _column_type = ("tsvector", "tsvector")

    def __init__(self, *args, **kwargs):
        kwargs.update(readonly=True, copy=False, prefetch=False)
        super().__init__(*args, **kwargs)


class CrmMailMessage(models.Model):
    """Full-text search: one box finds a mail by words of its subject, body,
    people (names and addresses) and file names, in their Russian and
    English word forms.

    ``fulltext`` is a stored ``tsvector`` kept current by a PostgreSQL
    trigger (also for rows written by SQL), with a GIN index; the domain
    ``[('fulltext', 'ilike', 'words')]`` searches it directly (no sub-query:
    PostgreSQL plans it with the rest of the domain and the record rules):
    the words of a search box (all of them), a quoted phrase, ``or`` and
    ``-word``, as ``websearch_to_tsquery`` reads them.
    """

    _inherit = "crm.mail.message"

    fulltext = FullText(
        string="Search Everywhere",
        help="Words of the subject, body, sender and recipients (names and "
        "addresses) and file names; a quoted phrase; -word to leave out.",
    )
    attachment_names = fields.Text(
        readonly=True, copy=False, help="The file names, for the search."
    )

    def init(self):
        res = super().init()
        cr = self.env.cr
        table = SQL.identifier(self._table)
        cr.execute(FULLTEXT_FUNCTION)
        cr.execute(
            SQL(
                """DROP TRIGGER IF EXISTS crm_mail_message_fulltext ON %(table)s;
                   CREATE TRIGGER crm_mail_message_fulltext
                   BEFORE INSERT OR UPDATE OF %(columns)s ON %(table)s
                   FOR EACH ROW EXECUTE FUNCTION crm_mail_message_fulltext_trigger()""",
                table=table,
                columns=SQL(", ").join(SQL.identifier(c) for c in FULLTEXT_SOURCES),
            )
        )
        # mails stored before (an upgrade): indexed once, here
        cr.execute(
            SQL(
                """UPDATE %s SET fulltext = crm_mail_fulltext(
                       subject,
                       concat_ws(' ', from_name, email_from, email_to, email_cc),
                       attachment_names, body_text, body_html)
                    WHERE fulltext IS NULL""",
                table,
            )
        )
        if cr.rowcount:
            _logger.info("Full-text index built for %s mails.", cr.rowcount)
        cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS crm_mail_message_fulltext_idx "
                "ON %s USING gin (fulltext)",
                table,
            )
        )
        if self.pool.has_trigram:
            # "From" contains: the field's own index is a btree (for the
            # exact lookups of linking and dedupe)
            cr.execute(
                SQL(
                    "CREATE INDEX IF NOT EXISTS crm_mail_message_email_from_trgm_idx "
                    "ON %s USING gin (email_from gin_trgm_ops)",
                    table,
                )
            )
        return res

    @api.model
    def _condition_to_sql(self, alias, fname, operator, value, query):
        if fname != "fulltext":
            return super()._condition_to_sql(alias, fname, operator, value, query)
        if not isinstance(value, str) or operator not in (
            "ilike",
            "like",
            "=",
            "not ilike",
            "not like",
            "!=",
        ):
            raise ValueError(f"fulltext {operator} {value!r}: search words only")
        if not value.strip():
            return (
                SQL("TRUE")
                if operator in expression.NEGATIVE_TERM_OPERATORS
                else SQL("FALSE")
            )
        # the trigger computes the column from these: their pending changes
        # reach the table before it is searched
        flush = [
            SQL("", to_flush=self._fields[name])
            for name in FULLTEXT_SOURCES
            if name in self._fields
        ]
        match = SQL(
            "%s @@ websearch_to_tsquery(%s, %s)" + "%s" * len(flush),
            SQL.identifier(alias, "fulltext"),
            TS_CONFIG,
            value,
            *flush,
        )
        if operator in expression.NEGATIVE_TERM_OPERATORS:
            return SQL(
                "(%s IS NULL OR NOT (%s))", SQL.identifier(alias, "fulltext"), match
            )
        return match

    @api.model
    def _update_attachment_names(self, mail_ids):
        """Collect the file names of these mails (for the search), in one
        statement."""
        if not mail_ids:
            return
        self.env.flush_all()
        self.env.cr.execute(
            """UPDATE crm_mail_message m
                  SET attachment_names = names.value
                 FROM (SELECT m2.id, (
                          SELECT string_agg(a.name, ' ' ORDER BY a.id)
                            FROM ir_attachment a
                           WHERE a.res_model = 'crm.mail.message'
                             AND a.res_id = m2.id AND a.res_field IS NULL) AS value
                         FROM crm_mail_message m2 WHERE m2.id = ANY(%s)) names
                WHERE m.id = names.id
                  AND m.attachment_names IS DISTINCT FROM names.value""",
            (list(mail_ids),),
        )
        self.browse(mail_ids).invalidate_recordset(["attachment_names"])
