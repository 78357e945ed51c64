import logging

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..mail_engine.addresses import split_addresses
from .crm_mail_account_fetch import LOCK_CLASS

_logger = logging.getLogger(__name__)
BATCH = 5000
#: seconds a rebuild waits for the running fetches to end
REBUILD_LOCK_WAIT = 30


class CrmMailAddress(models.Model):
    """Index of normalized addresses: one row per address of a partner.

    Every address of every field some company maps (a field may hold
    several), so that finding the partners of a mail is one indexed query
    whatever the number of partners; a lookup keeps the rows of the fields
    the mail's company maps, of partners shared or of that company. Only
    active partners are indexed. Kept in sync by ``res.partner``
    create/write and rebuilt when a mapping changes.
    """

    _name = "crm.mail.address"
    _description = "Partner Mail Address"
    _log_access = False

    address = fields.Char(required=True, index=True)
    partner_id = fields.Many2one(
        "res.partner", required=True, ondelete="cascade", index=True
    )
    is_company = fields.Boolean()
    field_name = fields.Char()
    company_id = fields.Many2one(
        "res.company", ondelete="cascade", help="The partner's company, if any."
    )

    @api.model
    def _mapped_fields(self, company=None):
        """(person fields, company fields) holding addresses, for a company."""
        company = company or self.env.company
        Partner = self.env["res.partner"]
        person = [
            f
            for f in company._crm_mail_field_list("crm_mail_contact_email_fields")
            if f in Partner._fields
        ]
        corporate = [
            f
            for f in company._crm_mail_field_list("crm_mail_company_email_fields")
            if f in Partner._fields
        ]
        return person or ["email"], corporate or ["email"]

    @api.model
    def _indexed_fields(self):
        """(person fields, company fields) that any company maps."""
        person, corporate = set(), set()
        for company in self.env["res.company"].sudo().search([]):
            company_person, company_corporate = self._mapped_fields(company)
            person.update(company_person)
            corporate.update(company_corporate)
        return sorted(person), sorted(corporate)

    @api.model
    def _rows_for(self, partners, indexed=None):
        person_fields, company_fields = indexed or self._indexed_fields()
        rows = []
        for partner in partners.filtered("active"):
            names = company_fields if partner.is_company else person_fields
            seen = set()
            for fname in names:
                for address in split_addresses(partner[fname] or ""):
                    if (address, fname) not in seen:
                        seen.add((address, fname))
                        rows.append(
                            {
                                "address": address,
                                "partner_id": partner.id,
                                "is_company": partner.is_company,
                                "field_name": fname,
                                "company_id": partner.company_id.id,
                            }
                        )
        return rows

    @api.model
    def _refresh(self, partners):
        """Re-index the addresses of these partners."""
        partners = partners.sudo().with_context(active_test=False)
        self.sudo().search([("partner_id", "in", partners.ids)]).unlink()
        self.sudo().create(self._rows_for(partners.exists()))

    @api.model
    def _rebuild(self):
        """Re-index every partner (after a mapping changed).

        Under the fetch locks of every account (a fetch reading a half-built
        index would create duplicate partners and leads), and without
        TRUNCATE: partner writes and readers of the old index go on, and the
        new index appears at once when this transaction commits.

        :raise UserError: when a fetch runs on longer than
            :data:`REBUILD_LOCK_WAIT` seconds
        """
        self._lock_fetches()
        cr = self.env.cr
        self.env.flush_all()
        # archived and deleted partners leave the index
        cr.execute(
            "DELETE FROM crm_mail_address a USING res_partner p "
            "WHERE p.id = a.partner_id AND NOT p.active"
        )
        Partner = self.env["res.partner"].sudo()
        indexed = self._indexed_fields()
        ids = Partner.search([]).ids
        for start in range(0, len(ids), BATCH):
            batch = Partner.browse(ids[start : start + BATCH])
            cr.execute(
                SQL(
                    "DELETE FROM crm_mail_address WHERE partner_id = ANY(%s)",
                    batch.ids,
                )
            )
            self.invalidate_model()
            self.sudo().create(self._rows_for(batch, indexed))
            self.env.flush_all()
            batch.invalidate_recordset()
        _logger.info("Mail address index rebuilt for %s partners.", len(ids))

    @api.model
    def _lock_fetches(self):
        """Take every account's fetch lock for this transaction, waiting up
        to :data:`REBUILD_LOCK_WAIT` seconds for running fetches."""
        accounts = (
            self.env["crm.mail.account"]
            .sudo()
            .with_context(active_test=False)
            .search([])
        )
        cr = self.env.cr
        cr.execute("SHOW lock_timeout")
        previous = cr.fetchone()[0]
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    "SELECT set_config('lock_timeout', %s, true)",
                    (f"{REBUILD_LOCK_WAIT}s",),
                )
                for account_id in sorted(accounts.ids):
                    cr.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, account_id)
                    )
        except psycopg2.errors.LockNotAvailable as error:
            raise UserError(
                self.env._(
                    "Mail is being fetched right now, so the address index "
                    "cannot be rebuilt. Try again in a minute."
                )
            ) from error
        finally:
            cr.execute("SELECT set_config('lock_timeout', %s, true)", (previous,))

    @api.model
    def _find(self, addresses, company):
        """Partners holding these addresses, as ``company`` maps them.

        :param list addresses: normalized addresses
        :param company: the ``res.company`` whose mapping applies (the
            account's): rows of the fields it maps, of partners shared or
            of that company
        :return: dict address -> ``crm.mail.address`` records
        """
        if not addresses:
            return {}
        person, corporate = self._mapped_fields(company)
        # one indexed query that also reads the rows (``search`` would read
        # them in a second one), and their partners in one more
        rows = self.sudo().search_fetch(
            [
                ("address", "in", list(addresses)),
                ("company_id", "in", [False, company.id]),
                "|",
                "&",
                ("is_company", "=", False),
                ("field_name", "in", person),
                "&",
                ("is_company", "=", True),
                ("field_name", "in", corporate),
            ],
            ["address", "partner_id", "is_company"],
        )
        rows.partner_id.fetch(["is_company", "parent_id", "commercial_partner_id"])
        by_address = {}
        for row in rows:
            by_address.setdefault(row.address, []).append(row.id)
        return {address: rows.browse(ids) for address, ids in by_address.items()}
