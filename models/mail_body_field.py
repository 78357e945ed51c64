from odoo import fields


class SanitizedHtml(str):
    """HTML that :meth:`MailBody.sanitized` cleaned with the field's own
    options. Only server code makes one: values that come over RPC are
    plain strings, sanitized as any HTML field's."""


class MailBody(fields.Html):
    """The body of a mail: an HTML field that stores as is the HTML the
    ingest already sanitized with its options.

    Odoo sanitizes an HTML value twice when a record is created (for the
    INSERT, then for the cache); a fetched mail's body, sanitized once by
    :meth:`sanitized`, is not sanitized again.
    """

    def sanitized(self, value, model):
        """``value`` sanitized as this field sanitizes what it is given
        (Odoo's own conversion, with the field's options).

        :param model: the model of the field (a record or an empty set)
        """
        if not value:
            return value
        return SanitizedHtml(super()._convert(value, model, validate=True))

    def from_text(self, value):
        """``value``, HTML made of plain text by the mail engine's
        ``text_to_html`` (paragraphs and line breaks around text whose
        every character is escaped), stored as it is: there is nothing in
        it to sanitize."""
        return SanitizedHtml(value) if value else value

    def _convert(self, value, record, validate):
        if type(value) is SanitizedHtml:
            return str(value)
        return super()._convert(value, record, validate)
