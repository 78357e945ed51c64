import logging

from odoo import api, fields, models

from ..mail_engine.addresses import split_addresses

_logger = logging.getLogger(__name__)
BATCH = 5000


class CrmMailAddress(models.Model):
    """Index of normalized addresses: one row per address of a partner.

    Every address of every mapped field (a field may hold several), so that
    finding the partners of a mail is one indexed query whatever the number
    of partners. Kept in sync by ``res.partner`` create/write and rebuilt
    when the mapping changes.
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
    def _rows_for(self, partners):
        person_fields, company_fields = self._mapped_fields()
        rows = []
        for partner in partners:
            names = company_fields if partner.is_company else person_fields
            seen = set()
            for fname in names:
                for address in split_addresses(partner[fname] or ""):
                    if address not in seen:
                        seen.add(address)
                        rows.append(
                            {
                                "address": address,
                                "partner_id": partner.id,
                                "is_company": partner.is_company,
                                "field_name": fname,
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
        """Re-index every partner (after the mapping changed)."""
        self.env.cr.execute("TRUNCATE crm_mail_address")
        self.invalidate_model()
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        ids = Partner.search([]).ids
        for start in range(0, len(ids), BATCH):
            batch = Partner.browse(ids[start : start + BATCH])
            self.sudo().create(self._rows_for(batch))
            batch.invalidate_recordset()
        _logger.info("Mail address index rebuilt for %s partners.", len(ids))

    @api.model
    def _find(self, addresses):
        """Partners holding these addresses.

        :param list addresses: normalized addresses
        :return: dict address -> ``crm.mail.address`` records
        """
        if not addresses:
            return {}
        # one indexed query that also reads the rows (``search`` would read
        # them in a second one), and their partners in one more
        rows = self.sudo().search_fetch(
            [("address", "in", list(addresses))],
            ["address", "partner_id", "is_company"],
        )
        rows.partner_id.fetch(["is_company", "parent_id", "commercial_partner_id"])
        by_address = {}
        for row in rows:
            by_address.setdefault(row.address, []).append(row.id)
        return {address: rows.browse(ids) for address, ids in by_address.items()}
