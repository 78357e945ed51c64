import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..mail_engine.addresses import domain_of, split_addresses
from ..mail_engine.domains import company_name_from_domain, is_public_domain

_logger = logging.getLogger(__name__)


class CrmMailMessage(models.Model):
    """Whose is this mail? Link it to the contact and company, or create them."""

    _inherit = "crm.mail.message"

    # ------------------------------------------------------------
    # MATCHING
    # ------------------------------------------------------------

    @api.model
    def _match_partner(self, addresses, company):
        """Contact and customer for the first matching address.

        Prefers a person over a company, then the partner with the most
        recent mail, then the lowest id.

        :param list addresses: normalized addresses, in order of preference
        :param company: the ``res.company`` whose mapping applies
        :return: dict with ``contact_id`` and ``partner_id`` (may be empty)
        """
        found = self.env["crm.mail.address"]._find([a for a in addresses if a])
        for address in addresses:
            rows = found.get(address)
            if not rows:
                continue
            persons = rows.filtered(lambda r: not r.is_company)
            best = self._most_recent((persons or rows).partner_id)
            return self._link_values(best, company)
        return {}

    @api.model
    def _most_recent(self, partners):
        if len(partners) == 1:
            return partners
        last = dict(
            self.sudo()._read_group(
                [("contact_id", "in", partners.ids)], ["contact_id"], ["date:max"]
            )
        )
        epoch = fields.Datetime.from_string("1970-01-01")
        return partners.sorted(lambda p: (-(last.get(p) or epoch).timestamp(), p.id))[0]

    @api.model
    def _link_values(self, partner, company):
        if partner.is_company:
            main = company.crm_mail_company_contact_field
            contact = partner[main] if main and main in partner._fields else False
            return {
                "partner_id": partner.id,
                "contact_id": contact.id if contact else False,
            }
        link = company.crm_mail_contact_company_field or "parent_id"
        if link == "parent_id" or link not in partner._fields:
            # a person's commercial partner is its parent's (stored, kept in
            # sync by res.partner): no need to read the parent
            customer = partner.commercial_partner_id
        else:
            parent = partner[link]
            customer = (
                parent.commercial_partner_id
                if parent
                else partner.commercial_partner_id
            )
        return {"contact_id": partner.id, "partner_id": customer.id}

    # ------------------------------------------------------------
    # UNKNOWN SENDERS
    # ------------------------------------------------------------

    @api.model
    def _own_addresses(self, account):
        """Addresses and domains of our own company: never new partners."""
        company = account.company_id
        domains = {domain_of(company.email or "")}
        if not is_public_domain(domain_of(account.email)):
            domains.add(domain_of(account.email))
        users = self.env["res.users"].sudo().search([("share", "=", False)])
        addresses = set(split_addresses(",".join(users.mapped("email") or [""])))
        return addresses, {d for d in domains if d}

    @api.model
    def _may_create_partner(self, account, parsed, classification):
        policy = account.company_id.crm_mail_unknown_policy
        if policy == "none" or not parsed.email_from:
            return False
        if (
            classification.auto_kind
            or classification.is_spam
            or classification.auth_failed
            or classification.is_own_notification
        ):
            return False
        addresses, domains = self._own_addresses(account)
        return (
            parsed.email_from not in addresses
            and domain_of(parsed.email_from) not in domains
        )

    @api.model
    def _create_partner_from_mail(self, account, parsed):
        """Create the sender's company (unless a public domain) and contact.

        :return: link values, plus ``lead_id`` when the policy asks for a lead
        """
        company = account.company_id
        address = parsed.email_from
        contact, parent = self._new_sender_partner(
            self.env["res.partner"].sudo(), company, address, parsed.from_name
        )
        values = {"contact_id": contact.id, "partner_id": (parent or contact).id}
        if company.crm_mail_unknown_policy == "lead":
            lead = (
                self.env["crm.lead"]
                .sudo()
                .create(
                    {
                        "name": parsed.subject or address,
                        "partner_id": contact.id,
                        "email_from": address,
                        "contact_name": parsed.from_name or False,
                        "team_id": company.crm_mail_lead_team_id.id,
                        "user_id": company.crm_mail_lead_user_id.id,
                        "description": (parsed.body_text or "")[:10000],
                        "company_id": company.id,
                    }
                )
            )
            values["lead_id"] = lead.id
        _logger.info("Mail from %s: created partner %s.", address, contact.id)
        return values

    @api.model
    def _new_sender_partner(self, Partner, company, address, name, with_company=True):
        """Create the sender as a contact, in the company of his mail domain
        (found by domain or created; none for a public mail provider).

        :param Partner: the ``res.partner`` model to create with (sudo for
            the fetch, the user's own for a hand-made contact)
        :param company: the ``res.company`` whose settings apply
        :param str address: the sender's address
        :param str name: the sender's display name, or None
        :param bool with_company: also find or create the company
        :return: tuple (contact, company partner or an empty recordset)
        """
        tag = self.env.ref("crm_mail_client.res_partner_category_from_mail")
        domain = domain_of(address)
        parent = Partner.browse()
        public = is_public_domain(domain, extra=company.crm_mail_public_domains or "")
        if with_company and domain and not public:
            parent = Partner.search(
                [("is_company", "=", True), ("crm_mail_domain", "=", domain)], limit=1
            ) or Partner.create(
                {
                    "name": company_name_from_domain(domain),
                    "is_company": True,
                    "crm_mail_domain": domain,
                    "website": domain,
                    "category_id": [fields.Command.link(tag.id)],
                }
            )
        email_field = (
            company._crm_mail_field_list("crm_mail_contact_email_fields") or ["email"]
        )[0]
        link_field = company.crm_mail_contact_company_field or "parent_id"
        vals = {
            "name": name or address,
            email_field: address,
            "category_id": [fields.Command.link(tag.id)],
        }
        if parent and link_field in Partner._fields:
            vals[link_field] = parent.id
        return Partner.create(vals), parent

    @api.model
    def _link_vals(self, account, parsed, direction, classification):
        """Link values for a new mail: match, else create for unknown senders."""
        if direction == "incoming":
            addresses = [parsed.email_from]
        else:
            addresses = [address for _name, address in parsed.to + parsed.cc]
        values = self._match_partner(addresses, account.company_id)
        if values or direction != "incoming":
            return values
        if self._may_create_partner(account, parsed, classification):
            return self._create_partner_from_mail(account, parsed)
        return {}

    # ------------------------------------------------------------
    # RELINK
    # ------------------------------------------------------------

    def _relink(self):
        """Link these mails again (after a partner got a new address).

        :return: the mails whose contact or company changed
        """
        changed = self.browse()
        for mail in self.sudo():
            if mail.direction == "incoming":
                addresses = [mail.email_from]
            else:
                addresses = split_addresses(
                    ",".join(filter(None, [mail.email_to, mail.email_cc]))
                )
            values = self._match_partner(addresses, mail.account_id.company_id)
            if any(
                (mail[name].id or False) != (v or False) for name, v in values.items()
            ):
                mail.write(values)
                changed |= mail
        return self.browse(changed.ids)

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_blacklist_sender(self):
        return self._open_blacklist(whole_domain=False)

    def action_blacklist_domain(self):
        return self._open_blacklist(whole_domain=True)

    def _open_blacklist(self, whole_domain):
        self.ensure_one()
        if self.direction != "incoming" or not self.email_from:
            raise UserError(
                self.env._("Only the sender of a received mail can be blacklisted.")
            )
        return self.env["crm.mail.blacklist.wizard"]._open(self, whole_domain)

    @api.model
    def action_relink_all(self):
        """Settings: link again every mail that has no contact yet."""
        mails = self.search([("contact_id", "=", False), ("partner_id", "=", False)])
        mails._relink()
        linked = mails.filtered("partner_id")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "%(linked)s of %(total)s unlinked mails are now linked.",
                    linked=len(linked),
                    total=len(mails),
                ),
            },
        }
