from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..mail_engine.patterns import PatternError, compile_pattern, first_match
from .hit_counter import flush_hits

#: key of the fetch run's cache: blacklist hits not written yet
CACHE_HITS = "blacklist_hits"


class CrmMailBlacklist(models.Model):
    """Senders whose mail is not stored: an address, a domain or a pattern."""

    _name = "crm.mail.blacklist"
    _description = "Mail Sender Blacklist"
    _order = "pattern"
    _rec_name = "pattern"

    pattern = fields.Char(
        required=True,
        help="ivan@spam.example (an address), @spam.example (a domain), "
        "*@*.spam.example (a wildcard) or /regex/.",
    )
    subdomains = fields.Boolean(
        default=True, help="A domain also blocks its subdomains."
    )
    account_id = fields.Many2one(
        "crm.mail.account", ondelete="cascade", help="Empty: every account."
    )
    active = fields.Boolean(default=True)
    hit_count = fields.Integer(readonly=True, copy=False)
    last_hit = fields.Datetime(readonly=True, copy=False)

    @api.constrains("pattern", "subdomains")
    def _check_pattern(self):
        for entry in self:
            try:
                compile_pattern(entry.pattern, entry.subdomains)
            except PatternError as error:
                raise ValidationError(
                    self.env._(
                        "Blacklist pattern %(pattern)s is refused: %(error)s",
                        pattern=entry.pattern,
                        error=error,
                    )
                ) from error

    @api.model
    def _compiled(self, account):
        """(entry, compiled pattern) pairs that apply to an account."""
        entries = self.sudo().search(
            ["|", ("account_id", "=", False), ("account_id", "=", account.id)]
        )
        return [
            (entry, compile_pattern(entry.pattern, entry.subdomains))
            for entry in entries
        ]

    @api.model
    def _hit(self, compiled, address, cache=None):
        """The entry blocking ``address``, or None; its hit is counted.

        :param dict cache: the fetch run's cache: hits are added there and
            written without waiting on the row (see ``hit_counter.py``)
        """
        if not address or not compiled:
            return None
        match = first_match([pattern for _entry, pattern in compiled], address)
        if match is None:
            return None
        entry = next(entry for entry, pattern in compiled if pattern is match)
        hits = {} if cache is None else cache.setdefault(CACHE_HITS, {})
        hits[entry.id] = hits.get(entry.id, 0) + 1
        flush_hits(self.sudo(), hits)
        return entry
