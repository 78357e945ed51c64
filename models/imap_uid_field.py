from odoo import fields


class ImapUid(fields.Integer):
    """An IMAP UID or UIDVALIDITY: unsigned 32-bit (up to 4,294,967,295),
    beyond PostgreSQL's ``integer``; stored as ``bigint``.

    RFC 3501's own example UIDVALIDITY is 3857529045: in an ``int4`` column
    such a folder could never be fetched.
    """

    _column_type = ("int8", "int8")
    # a sum of UIDs means nothing
    aggregator = None
