import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, split_every

from ..mail_engine.addresses import domain_of, parse_address_list, split_addresses
from ..mail_engine.domains import company_name_from_domain, is_public_domain
from .cron_limits import run_batches

_logger = logging.getLogger(__name__)

#: mails linked again per batch (one address lookup, one write per link)
RELINK_BATCH = 1000
#: the last mail id the "link unlinked mail" cron went through (-1: done)
RELINK_PARAM = "crm_mail_client.relink_from_id"
UNLINKED = [("contact_id", "=", False), ("partner_id", "=", False)]


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
        found = self.env["crm.mail.address"]._find([a for a in addresses if a], company)
        return self._match_found(found, addresses, company)

    @api.model
    def _match_found(self, found, addresses, company, recent=None, made=None):
        """:meth:`_match_partner` on index rows already looked up.

        :param dict found: ``crm.mail.address._find`` of (at least) these
            addresses for ``company``
        :param dict recent: cache of :meth:`_most_recent` answers, kept by a
            caller that matches many mails
        :param dict made: address -> link values of partners made since
            ``found`` was looked up
        """
        for address in addresses:
            if made and address in made:
                return dict(made[address])
            rows = found.get(address)
            if not rows:
                continue
            persons = rows.filtered(lambda r: not r.is_company)
            best = self._most_recent((persons or rows).partner_id, recent)
            return self._link_values(best, company)
        return {}

    @api.model
    def _most_recent(self, partners, cache=None):
        if len(partners) == 1:
            return partners
        if cache is not None:
            if partners not in cache:
                cache[partners] = self._most_recent(partners)
            return cache[partners]
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
        # an internal user may have no address at all
        addresses = set(split_addresses(",".join(filter(None, users.mapped("email")))))
        accounts = self.env["crm.mail.account"].sudo().with_context(active_test=False)
        addresses.update(accounts.search([]).mapped("email"))
        return addresses, {d for d in domains if d}

    @api.model
    def _sender(self, account, parsed):
        """Who wrote an incoming mail: ``(address, name)`` of From, or of
        Reply-To when From is the account's own address (a website form
        sends ``From: sales@`` with the customer in Reply-To)."""
        if parsed.reply_to and parsed.email_from == account.email:
            pairs = parse_address_list(parsed.reply_to)
            if pairs:
                name, address = pairs[0]
                return address, name
        return parsed.email_from, parsed.from_name

    @api.model
    def _may_create_partner(self, account, parsed, classification, cache):
        policy = account.company_id.crm_mail_unknown_policy
        sender, _name = self._sender(account, parsed)
        if policy == "none" or not sender:
            return False
        if (
            classification.auto_kind
            or classification.is_spam
            or classification.auth_failed
            or classification.is_own_notification
        ):
            return False
        # looked up once per fetch run
        key = ("own_addresses", account.id)
        if key not in cache:
            cache[key] = self._own_addresses(account)
        addresses, domains = cache[key]
        return sender not in addresses and domain_of(sender) not in domains

    @api.model
    def _create_partner_from_mail(self, account, parsed, made=None):
        """Create the sender's company (unless a public domain) and contact.

        :param tuple made: (contact, company) made for him already (with
            the other new senders of a batch: :meth:`_new_senders`)
        :return: link values, plus ``lead_id`` when the policy asks for a lead
        """
        company = account.company_id
        address, name = self._sender(account, parsed)
        contact, parent = made or self._new_sender_partner(
            self.env["res.partner"].sudo(), company, address, name
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
                        "contact_name": name or False,
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
        made = self._new_sender_partners(
            Partner, company, {address: name}, with_company=with_company
        )
        return made[address]

    @api.model
    def _new_sender_partners(self, Partner, company, senders, with_company=True):
        """:meth:`_new_sender_partner` for many senders at once: their
        companies are looked up in one query and the missing ones created
        together, then their contacts together.

        :param dict senders: address -> display name (or None), in order
        :return: dict address -> (contact, company partner or empty)
        """
        tag = self.env.ref("crm_mail_client.res_partner_category_from_mail")
        extra = company.crm_mail_public_domains or ""
        domains = {}  # address -> the domain whose company he joins
        if with_company:
            for address in senders:
                domain = domain_of(address)
                if domain and not is_public_domain(domain, extra=extra):
                    domains[address] = domain
        parents = {}
        if domains:
            for parent in Partner.search(
                [
                    ("is_company", "=", True),
                    ("crm_mail_domain", "in", sorted(set(domains.values()))),
                    ("company_id", "in", [False, company.id]),
                ]
            ):
                parents.setdefault(parent.crm_mail_domain, parent)
        missing = sorted(set(domains.values()) - set(parents))
        created = Partner.create(
            [
                {
                    "name": company_name_from_domain(domain),
                    "is_company": True,
                    "crm_mail_domain": domain,
                    "website": domain,
                    "category_id": [fields.Command.link(tag.id)],
                }
                for domain in missing
            ]
        )
        parents.update(zip(missing, created, strict=True))
        email_field = (
            company._crm_mail_field_list("crm_mail_contact_email_fields") or ["email"]
        )[0]
        link_field = company.crm_mail_contact_company_field or "parent_id"
        name_field = company.crm_mail_contact_name_field or "name"
        vals_list = []
        for address, name in senders.items():
            vals = {
                "name": name or address,
                email_field: address,
                "category_id": [fields.Command.link(tag.id)],
            }
            if name_field != "name" and name_field in Partner._fields:
                # the setup's "name field" (a full-name field of the old
                # CRM's import, say) gets the sender's name too
                vals[name_field] = name or address
            parent = parents.get(domains.get(address))
            if parent and link_field in Partner._fields:
                vals[link_field] = parent.id
            vals_list.append(vals)
        contacts = Partner.create(vals_list)
        made = {}
        main_field = company.crm_mail_company_contact_field
        for (address, _name), contact in zip(senders.items(), contacts, strict=True):
            parent = parents.get(domains.get(address), Partner.browse())
            made[address] = (contact, parent)
            if (
                parent in created
                and main_field in Partner._fields
                and Partner._fields[main_field].type == "many2one"
                and not parent[main_field]
            ):
                # a company made for this sender gets him as its main contact
                parent[main_field] = contact
        return made

    @api.model
    def _link_addresses_of(self, account, parsed, direction):
        """The addresses a new mail is linked by, in order of preference:
        its sender's for incoming mail, its recipients' for outgoing."""
        if direction == "incoming":
            return [self._sender(account, parsed)[0]]
        return [address for _name, address in parsed.to + parsed.cc]

    @api.model
    def _link_vals(
        self,
        account,
        parsed,
        direction,
        classification,
        *,
        found,
        made,
        recent,
        cache,
        new_senders,
    ):
        """Link values for a new mail: match, else create for unknown senders.

        Its batch passes what it looked up and made for all its mails:

        :param dict found: ``crm.mail.address._find`` of its addresses
        :param dict made: address -> link values of the senders made
            partners for earlier mails of the batch (filled here)
        :param dict recent: cache of :meth:`_most_recent`
        :param dict cache: the fetch run's cache
        :param dict new_senders: address -> (contact, company) made for the
            batch's unknown senders (:meth:`_new_senders`)
        """
        addresses = self._link_addresses_of(account, parsed, direction)
        values = self._match_found(found, addresses, account.company_id, recent, made)
        if values or direction != "incoming":
            return values
        if self._may_create_partner(account, parsed, classification, cache):
            values = self._create_partner_from_mail(
                account, parsed, made=new_senders.get(addresses[0])
            )
            # the batch's next mails of this sender are his
            made[addresses[0]] = {
                name: values[name] for name in ("contact_id", "partner_id")
            }
            return values
        return {}

    # ------------------------------------------------------------
    # RELINK
    # ------------------------------------------------------------

    def _relink(self):
        """Link these mails again (after a partner got a new address).

        By batches of :data:`RELINK_BATCH`: one address lookup per batch and
        company, one write per distinct link; the number of queries does not
        grow with the number of mails of a batch.

        :return: the mails whose contact or company changed
        """
        Address = self.env["crm.mail.address"]
        changed = []
        recent = {}
        for ids in split_every(RELINK_BATCH, self.ids):
            mails = self.sudo().browse(ids)
            mails.fetch(
                ["direction", "email_from", "reply_to", "email_to", "email_cc"]
                + ["account_id", "contact_id", "partner_id"]
            )
            wanted = {mail: mail._link_addresses() for mail in mails}
            by_company = defaultdict(set)
            for mail, addresses in wanted.items():
                by_company[mail.account_id.company_id].update(addresses)
            found = {
                company: Address._find(list(addresses), company)
                for company, addresses in by_company.items()
            }
            groups = defaultdict(list)
            for mail, addresses in wanted.items():
                company = mail.account_id.company_id
                values = self._match_found(found[company], addresses, company, recent)
                if any(
                    (mail[name].id or False) != (value or False)
                    for name, value in values.items()
                ):
                    groups[tuple(sorted(values.items()))].append(mail.id)
            for values, mail_ids in groups.items():
                self._write_links(mail_ids, dict(values))
                changed.extend(mail_ids)
        if changed:
            self._invalidate_mail_tabs()
        return self.browse(changed)

    @api.model
    def _write_links(self, mail_ids, values):
        """Set contact and customer of many mails in one statement (the ORM
        would split it by hundreds): only these two columns change, nothing
        computes from them."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """UPDATE crm_mail_message
                      SET contact_id = %s, partner_id = %s, write_uid = %s,
                          write_date = (now() at time zone 'UTC')
                    WHERE id = ANY(%s)""",
                values.get("contact_id") or None,
                values.get("partner_id") or None,
                self.env.uid,
                mail_ids,
            )
        )
        self.browse(mail_ids).invalidate_recordset(
            ["contact_id", "partner_id", "write_uid", "write_date"]
        )

    def _link_addresses(self):
        """The addresses a stored mail is linked by, in order of preference:
        its sender (or the Reply-To of a mail the account sent itself),
        the recipients of an outgoing mail."""
        self.ensure_one()
        if self.direction == "incoming":
            if self.reply_to and self.email_from == self.account_id.email:
                return split_addresses(self.reply_to)[:1] or [self.email_from]
            return [self.email_from]
        return split_addresses(",".join(filter(None, [self.email_to, self.email_cc])))

    @api.model
    def _cron_relink_unlinked(self):
        """Link again every mail without a contact or company, oldest first.

        WARNING: meant for cron usage only - commits after each batch. Its
        progress (the last mail id done) is kept in a parameter, so that a
        next pass (or a crash) goes on where this one stopped.
        """
        Param = self.env["ir.config_parameter"].sudo()
        start = int(Param.get_param(RELINK_PARAM, -1))
        if start < 0:
            return
        done = 0

        def batch():
            nonlocal start, done
            mails = self.sudo().search(
                [("id", ">", start), *UNLINKED], order="id", limit=RELINK_BATCH
            )
            if not mails:
                Param.set_param(RELINK_PARAM, -1)
                return False
            mails._relink()
            done += len(mails)
            start = mails[-1].id
            Param.set_param(RELINK_PARAM, start)
            return True

        run_batches(self.env, "crm_mail_client.ir_cron_relink_mail", batch)
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)

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
        """Settings: link again every mail that has no contact yet.

        In the background (there may be a million): the cron "Mail: link
        unlinked mail" starts at once and goes through them in batches.
        """
        self.env["ir.config_parameter"].sudo().set_param(RELINK_PARAM, 0)
        self.env.ref("crm_mail_client.ir_cron_relink_mail").sudo()._trigger()
        count = self.sudo().search_count(UNLINKED)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": self.env._(
                    "%(total)s unlinked mails are being linked in the background; "
                    "each shows its company as soon as it is found.",
                    total=count,
                ),
            },
        }
