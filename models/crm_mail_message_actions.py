from collections import defaultdict

from markupsafe import Markup, escape

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import plaintext2html

from ..mail_engine.addresses import domain_of
from ..mail_engine.domains import company_name_from_domain, is_public_domain
from ..mail_engine.mime_html import block_remote_images
from .crm_mail_mass_job import MASS_NOW
from .crm_mail_message import LINK_FIELDS
from .crm_mail_message_ingest import DUPLICATE, QUARANTINED, STORED

#: the stored original of a fetched mail: never copied to a lead or chatter
ORIGINAL_EML = ("original.eml", "message/rfc822")
#: mails listed in one lead note; the rest are counted
NOTE_LINKS = 10


class CrmMailMessage(models.Model):
    """Turn a mail into CRM work by hand: leads, contacts, activities, notes.

    Reading a mail is enough to create work from it, and to fill a link it
    does not have yet (the mail of a new lead or contact is linked to it);
    changing an existing link is a relink and needs the right to write the
    mail. A mail linked to a lead tells the lead's chatter (a short internal
    note, no body), and the answers to a lead's mail join that lead.
    """

    _inherit = "crm.mail.message"

    sender_known = fields.Boolean(
        compute="_compute_sender_known",
        help="The mail is linked to a contact or company.",
    )
    sender_public_domain = fields.Boolean(
        compute="_compute_sender_public_domain",
        help="The sender writes from a public mail provider: no company.",
    )

    can_relink = fields.Boolean(
        compute="_compute_can_relink",
        help="The user may edit this mail (its links and responsible).",
    )
    can_work = fields.Boolean(
        compute="_compute_can_work",
        help="The user may note or schedule on the mail's lead, contact or company.",
    )

    more_actions = fields.Json(
        compute="_compute_more_actions",
        help="The mail form's More menu: the actions the user can take here.",
    )

    @api.depends_context("uid")
    def _compute_can_relink(self):
        allowed = self._filtered_access("write")
        for mail in self:
            mail.can_relink = mail in allowed

    @api.depends("lead_id", "contact_id", "partner_id")
    @api.depends_context("uid")
    def _compute_can_work(self):
        for mail in self:
            mail.can_work = any(r.has_access("write") for r in mail._work_candidates())

    @api.depends(
        "state",
        "direction",
        "review_state",
        "lead_id",
        "contact_id",
        "partner_id",
        "email_from",
        "auto_kind",
    )
    @api.depends_context("uid")
    def _compute_more_actions(self):
        """Every action of the More menu that this user can take on each
        mail, as ``[{"name": method, "string": label}]``, in menu order."""
        is_manager = self.env.user.has_group("crm_mail_client.group_mail_manager")
        for mail in self:
            live = mail.state not in ("draft", "quarantined")
            incoming = mail.direction == "incoming" and mail.state != "quarantined"
            new_sender = incoming and bool(mail.email_from) and not mail.sender_known
            offered = [
                ("action_mark_unread", self.env._("Mark Unread"), not mail.is_unread),
                (
                    "action_mark_new",
                    self.env._("Back to New"),
                    live and mail.review_state != "new",
                ),
                (
                    "action_put_on_control",
                    self.env._("On Control"),
                    mail.direction == "outgoing"
                    and mail.state == "sent"
                    and mail.review_state != "control",
                ),
                (
                    "action_create_lead",
                    self.env._("Create Lead"),
                    live and not mail.lead_id,
                ),
                ("action_create_contact", self.env._("Create Contact"), new_sender),
                (
                    "action_create_company_contact",
                    self.env._("Create Company + Contact"),
                    new_sender and not mail.sender_public_domain,
                ),
                (
                    "action_schedule_activity",
                    self.env._("Schedule Activity"),
                    mail.can_work,
                ),
                ("action_log_note", self.env._("Log Note"), mail.can_work),
                ("action_link_to", self.env._("Link to…"), mail.state != "quarantined"),
                (
                    "action_mark_spam",
                    self.env._("Mark as Spam…"),
                    mail.can_relink and incoming and mail.state == "received",
                ),
                (
                    "action_not_spam",
                    self.env._("Not Spam"),
                    mail.can_relink and mail.state == "spam",
                ),
                (
                    "action_not_robot",
                    self.env._("Not a Robot"),
                    mail.can_relink and incoming and bool(mail.auto_kind),
                ),
                (
                    "action_create_rule",
                    self.env._("Create Rule"),
                    is_manager and incoming and mail.state == "received",
                ),
            ]
            mail.more_actions = [
                {"name": name, "string": label}
                for name, label, shown in offered
                if shown
            ]

    @api.depends("contact_id", "partner_id")
    def _compute_sender_known(self):
        for mail in self:
            mail.sender_known = bool(mail.contact_id or mail.partner_id)

    @api.depends("email_from", "company_id")
    def _compute_sender_public_domain(self):
        for mail in self:
            extra = mail.company_id.crm_mail_public_domains or ""
            mail.sender_public_domain = is_public_domain(
                domain_of(mail.email_from or ""), extra=extra
            )

    # ------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("lead_id"):
                lead = self._thread_lead(
                    vals.get("parent_id"), vals.get("thread_root_id")
                )
                if lead:
                    vals["lead_id"] = lead.id
        mails = super().create(vals_list)
        if any(vals.get(name) for vals in vals_list for name in LINK_FIELDS):
            mails._invalidate_mail_tabs()
        if mails.filtered("lead_id"):
            mails.filtered("lead_id")._post_lead_note()
        return mails

    def write(self, vals):
        before = {}
        if vals.get("lead_id"):
            before = {mail.id: mail.lead_id.id for mail in self.sudo()}
        res = super().write(vals)
        if set(LINK_FIELDS) & set(vals):
            self._invalidate_mail_tabs()
        if vals.get("lead_id"):
            self.filtered(
                lambda m: before.get(m.id) != vals["lead_id"]
            )._post_lead_note()
        elif "lead_id" not in vals and {"parent_id", "thread_root_id"} & set(vals):
            # a late parent (orphan adoption): the answer joins its lead
            self._inherit_thread_lead()
        return res

    def _mail_tab_models(self):
        """Models with a Mail tab (bridges add theirs)."""
        return ["crm.lead", "res.partner"]

    def _invalidate_mail_tabs(self):
        # the Mail tabs of leads and partners are computed without
        # dependencies (they follow the reader's rights): forget them when a
        # mail joins or leaves a lead, company or contact
        for model in self._mail_tab_models():
            self.env[model].invalidate_model(
                ["crm_mail_message_ids", "crm_mail_count"], flush=False
            )

    @api.model
    def _thread_lead(self, parent_id, root_id):
        """The lead of the conversation a new mail answers, if any."""
        parent = self.sudo().browse(parent_id or [])
        root = self.sudo().browse(root_id or []) or parent.thread_root_id
        return parent.lead_id or root.lead_id

    def _inherit_thread_lead(self):
        by_lead = defaultdict(lambda: self.browse())
        for mail in self.sudo().filtered(lambda m: not m.lead_id):
            lead = self._thread_lead(mail.parent_id.id, mail.thread_root_id.id)
            if lead:
                by_lead[lead] |= mail
        for lead, mails in by_lead.items():
            # system bookkeeping, like the threading itself
            mails.sudo().write({"lead_id": lead.id})

    def _post_lead_note(self):
        """A short internal note on the lead for its incoming mails: who,
        subject, link; no body nor attachment (the mail's rights apply).
        One note per lead, listing at most :data:`NOTE_LINKS` mails when
        many join it at once (a relink of a selection)."""
        by_lead = defaultdict(list)
        for mail in self.sudo().filtered(
            lambda m: m.lead_id and m.direction == "incoming" and m.state == "received"
        ):
            by_lead[mail.lead_id].append(mail)
        for lead, mails in by_lead.items():
            lines = [mail._lead_note_line() for mail in mails[:NOTE_LINKS]]
            if len(mails) == 1:
                body = Markup("<p>%s</p>") % lines[0]
            else:
                body = Markup("<p>%s</p><ul>%s</ul>") % (
                    self.env._("Mails that joined this lead (%s):", len(mails)),
                    Markup().join(Markup("<li>%s</li>") % line for line in lines),
                )
                if len(mails) > NOTE_LINKS:
                    body += Markup("<p>%s</p>") % self.env._(
                        "…and %s more.", len(mails) - NOTE_LINKS
                    )
            lead.with_context(mail_create_nosubscribe=True).message_post(
                body=body,
                subtype_xmlid="mail.mt_note",
                message_type="comment",
            )

    def _lead_note_line(self):
        who = (
            f"{self.from_name} <{self.email_from}>"
            if self.from_name
            else self.email_from or ""
        )
        link = Markup('<a href="/odoo/crm.mail.message/%s">%s</a>') % (
            self.id,
            self.subject or self.env._("(no subject)"),
        )
        return self.env._(
            "Mail from %(who)s: %(subject)s", who=escape(who), subject=link
        )

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_create_lead(self):
        """One lead per sender, prefilled from the mail, the mails linked to
        it and their attachments copied to it (in the background beyond
        :data:`MASS_NOW` mails)."""
        self._check_can_act()
        if len(self) > MASS_NOW:
            return self._queue_mass("create_lead")
        leads = self._make_leads()
        return self._open_records(leads, self.env._("Leads from Mail"))

    def action_create_contact(self):
        """A contact for each unknown sender, linked to his mails."""
        return self._create_sender_partners(with_company=False)

    def action_create_company_contact(self):
        """A company from the sender's domain (none for a public mail
        provider) and the contact in it, linked to his mails."""
        return self._create_sender_partners(with_company=True)

    def action_schedule_activity(self):
        """Odoo's activity scheduling on the mail's lead, else its contact."""
        self.ensure_one()
        self._check_can_act()
        target = self._work_target()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Schedule Activity"),
            "res_model": "mail.activity.schedule",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "active_model": target._name,
                "active_id": target.id,
                "active_ids": target.ids,
                "default_summary": (self.subject or "")[:250],
                "default_note": self._summary_html(),
            },
        }

    def action_log_note(self):
        """Ask before copying the mails to a chatter that all may read."""
        self._check_can_act()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Log Note"),
            "res_model": "crm.mail.log.note.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_message_ids": self.ids},
        }

    def action_new_mail(self):
        """The composer, from a mail list (a header button: the selection,
        if any, is ignored)."""
        return self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_client.crm_mail_compose_action"
        )

    def action_check_mail(self):
        """Inbox "Check Mail": fetch the user's accounts now, in the
        background (a request must not wait for mail servers)."""
        Account = self.env["crm.mail.account"]
        accounts = Account.search([("active", "=", True)])  # his, by the rules
        if not accounts:
            raise UserError(
                self.env._(
                    "You read no mail account yet: a mail administrator gives "
                    "you the right to read one, or add your own mailbox."
                )
            )
        for cron in Account._fetch_crons().filtered("active"):
            cron._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "title": self.env._("Checking mail"),
                "message": self.env._(
                    "%(accounts)s are being fetched in the background; new "
                    "mail shows in the list as it arrives.",
                    accounts=", ".join(accounts[:5].mapped("name"))
                    + ("…" if len(accounts) > 5 else ""),
                ),
            },
        }

    def action_create_rule(self):
        """A routing rule for mail like this one: from its sender, on its
        account, to finish and save (mail administrators)."""
        self.ensure_one()
        self.check_access("read")
        if not self.env.user.has_group("crm_mail_client.group_mail_manager"):
            raise AccessError(
                self.env._("Routing rules are made by mail administrators.")
            )
        address = self.email_from or ""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New Routing Rule"),
            "res_model": "crm.mail.rule",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "context": {
                "default_name": self.env._("Mail from %s", address or "?"),
                "default_account_id": self.account_id.id,
                "default_condition_ids": [
                    Command.create(
                        {"field": "from", "operator": "contains", "value": address}
                    )
                ]
                if address
                else [],
            },
        }

    def _original_eml(self):
        """The stored originals (.eml) of these mails, as the server gave them."""
        return self.attachment_ids.filtered(
            lambda a: (a.name, a.mimetype) == ORIGINAL_EML
        )

    def action_download_original(self):
        """The mail as the server gave it (.eml): what a quarantined mail
        was, for whoever investigates it."""
        self.ensure_one()
        self.check_access("read")
        original = self._original_eml()[:1]
        if not original:
            raise UserError(self.env._("The original of this mail was not kept."))
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{original.id}?download=true",
            "target": "self",
        }

    def action_retry_quarantined(self):
        """Read quarantined mail again from its original, as if fetched now
        (after a fix of the reader, or of what broke storing it): what can be
        read is stored as mail, in the quarantined mail's place; what still
        cannot stays in quarantine with today's reason. For mail
        administrators."""
        if not self.env.user.has_group("crm_mail_client.group_mail_manager"):
            raise AccessError(
                self.env._(
                    "Only mail administrators read quarantined mail again: ask "
                    "one (a user with Mail: Administrator in Settings → Users)."
                )
            )
        stored = 0
        for mail in self.filtered(lambda m: m.state == "quarantined").sudo():
            original = mail._original_eml()[:1]
            if not original:
                continue
            raw = original.raw
            source = mail._server_place()
            account = mail.account_id
            savepoint = self.env.cr.savepoint()
            # its server place and key go to the mail read again; without
            # them, removing it later asks nothing of the server
            mail.write(
                {
                    "folder_id": False,
                    "imap_uid": False,
                    "imap_uidvalidity": False,
                    "pop3_uidl": False,
                    "dedupe_key": f"retry:{mail.id}",
                }
            )
            outcome, detail = self._ingest_raw(account, raw, source)
            # a copy stored meanwhile takes the place: nothing is lost either
            kept = self.browse()
            if outcome in (STORED, DUPLICATE):
                kept = self.sudo().search(
                    [
                        ("account_id", "=", account.id),
                        ("dedupe_key", "=", detail),
                        ("id", "!=", mail.id),
                    ],
                    limit=1,
                )
            if kept:
                if not kept._original_eml():
                    # the original stays, whatever the account keeps of new mail
                    original.write({"res_id": kept.id})
                moved = original if original.res_id == kept.id else original.browse()
                (mail.attachment_ids - moved).unlink()
                mail.unlink()
                savepoint.close(rollback=False)
                stored += 1
                continue
            savepoint.close(rollback=True)
            self.env.invalidate_all()
            if outcome == QUARANTINED:
                mail.error = detail
        self.env.invalidate_all()
        left = len(self) - stored
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success" if not left else "warning",
                "message": self.env._(
                    "Stored as mail: %(stored)s. Still in quarantine: %(left)s.",
                    stored=stored,
                    left=left,
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_link_to(self):
        """Link these mails to a lead, company or contact: filling an empty
        link needs the right to read them, replacing one the right to edit
        them (checked when applied, with the reason)."""
        self._check_can_act()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Link to"),
            "res_model": "crm.mail.link.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_message_ids": self.ids},
        }

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _make_leads(self):
        leads = self.env["crm.lead"]
        for mails in self._by_sender():
            lead = self.env["crm.lead"].create(mails._lead_vals())
            mails._copy_attachments_to(lead)
            mails._fill_links({"lead_id": lead.id})
            if lead.user_id and mails._may_assign():
                # the lead's salesperson answers for its mail: he reads it
                # (record rule "its responsible") even without account rights;
                # only a user who may give that right makes it so
                mails.sudo().filtered(lambda m: not m.user_id).write(
                    {"user_id": lead.user_id.id}
                )
            leads |= lead
        return leads

    def _queue_mass(self, action, target=False):
        """Hand ``action`` on these many mails to the background job."""
        if action == "log_note":
            groups = [[mail_id] for mail_id in self.ids]
        else:
            # one sender's mails make one lead or contact: never split
            groups = [mails.ids for mails in self._by_sender()]
        return self.env["crm.mail.mass.job"]._queue(self, action, groups, target)

    def _mass_job_do(self, action, target):
        """One batch of a background job, as the user who asked.

        :return: (records made, mails that no longer needed the action)
        """
        self._check_can_act()
        if action == "create_lead":
            return len(self._make_leads()), 0
        if action == "log_note":
            todo = self.filtered(lambda m: m._note_record(target))
            for mail in todo:
                mail._log_note_on(mail._note_record(target))
            return len(todo), len(self - todo)
        # contacts: a sender linked meanwhile (by a rule, by hand) keeps it
        todo = self.filtered(lambda m: not m.sender_known and m.email_from)
        contacts = todo._make_sender_partners(action == "create_company_contact")
        return len(contacts), len(self - todo)

    def _note_record(self, target):
        """Where a note of this mail goes: its lead, else (``partner``) its
        contact or company."""
        self.ensure_one()
        if target == "lead":
            return self.lead_id
        return self.contact_id or self.partner_id

    def _check_can_act(self):
        if not self:
            raise UserError(self.env._("Select at least one mail."))
        # creating work from a mail needs only the right to read it
        self.check_access("read")

    def _by_sender(self):
        """The mails grouped by sender address (newest first in each)."""
        groups = defaultdict(lambda: self.browse())
        # these two columns only: the prefetch would read every body
        self.fetch(["date", "email_from"])
        for mail in self.sorted(
            lambda m: m.date or fields.Datetime.now(), reverse=True
        ):
            key = (mail.email_from or "").lower() or f"id:{mail.id}"
            groups[key] |= mail
        return list(groups.values())

    def _fill_links(self, vals):
        """Link these mails. Filling an empty link is part of the action
        (read right); replacing another value is a relink (write right)."""
        relink = self.filtered(
            lambda m: any(m[name] and m[name].id != vals[name] for name in vals)
        )
        refused = relink - relink._filtered_access("write")
        if refused:
            raise AccessError(
                self.env._(
                    "Changing the link of %(subjects)s needs the right to edit "
                    "the mail of %(accounts)s; its owner, a user who manages its "
                    "rights or a mail administrator can grant it.",
                    subjects=subjects_text(refused),
                    accounts=", ".join(refused.account_id.mapped("name")),
                )
            )
        self.check_access("read")
        # the write is made as the superuser: the user must see what he links to
        self._check_link_targets(vals)
        for name in set(vals) - set(LINK_FIELDS):
            target = self.env[self._fields[name].comodel_name].browse(vals[name])
            target.check_access("read")
        self.sudo().write(vals)

    def _work_target(self):
        """The lead, else the contact, else the company of the mail: the
        first the user may work on (a colleague's lead is his)."""
        candidates = self._work_candidates()
        if not candidates:
            raise UserError(
                self.env._(
                    "Link the mail to a lead or a contact first, or create one from it."
                )
            )
        for record in candidates:
            if record.has_access("write"):
                return record
        raise AccessError(not_yours_message(self.env, candidates[0]))

    def _work_candidates(self):
        """The mail's lead, contact and company that are set, in that order."""
        return [r for r in (self.lead_id, self.contact_id, self.partner_id) if r]

    def _attachments_to_copy(self):
        return self.attachment_ids - self._original_eml()

    def _copy_attachments_to(self, record):
        """Copies of the mails' attachments on ``record``.

        :return: the new ``ir.attachment`` records
        """
        Attachment = self.env["ir.attachment"]
        for mail in self:
            for att in mail._attachments_to_copy():
                Attachment |= att.copy({"res_model": record._name, "res_id": record.id})
        return Attachment

    def _body_html(self):
        """The body for a lead or a note: remote images stay blocked (a
        tracking pixel would otherwise tell the sender who reads it)."""
        self.ensure_one()
        if self.body_html:
            return Markup(block_remote_images(self.body_html)[0])
        return Markup(plaintext2html(self.body_text or ""))

    def _summary_html(self):
        """Who wrote when about what, and the start of the text."""
        self.ensure_one()
        text = " ".join((self.body_text or "").split())
        if len(text) > 500:
            text = text[:500] + "…"
        return Markup("<p>%s</p><p>%s</p>") % (
            self.env._(
                "Mail from %(who)s, %(date)s: %(subject)s",
                who=self.from_name or self.email_from or "",
                date=fields.Datetime.to_string(self.date) if self.date else "",
                subject=self.subject or "",
            ),
            text,
        )

    @api.model
    def _lead_name(self, subject, partner, from_name, email_from, company):
        """ "Company — Subject": five leads of one subject are told apart by
        who wrote (the customer, else the sender's company from his domain,
        else his name or address)."""
        domain = domain_of(email_from or "")
        if partner:
            who = partner.commercial_partner_id.name or partner.name
        elif domain and not is_public_domain(
            domain, extra=company.crm_mail_public_domains or ""
        ):
            who = company_name_from_domain(domain)
        else:
            who = from_name or email_from
        subject = subject or self.env._("Mail from %s", email_from or "?")
        return f"{who} — {subject}" if who else subject

    def _lead_vals(self):
        """Values of a lead made from these mails of one sender."""
        mail = self[0]
        partner = mail.contact_id or mail.partner_id
        vals = {
            "name": self._lead_name(
                mail.subject, partner, mail.from_name, mail.email_from, mail.company_id
            ),
            "description": mail._body_html(),
            "company_id": mail.company_id.id,
        }
        if partner:
            # the lead takes the partner's address and name by itself; an
            # e-mail given here would overwrite the partner's
            vals["partner_id"] = partner.id
            return vals
        address = mail.email_from or ""
        domain = domain_of(address)
        vals.update(
            {
                "email_from": address or False,
                "contact_name": mail.from_name or False,
            }
        )
        if domain and not mail.sender_public_domain:
            vals["partner_name"] = company_name_from_domain(domain)
            vals["website"] = domain
        return vals

    def _create_sender_partners(self, with_company):
        self._check_can_act()
        self.fetch(["email_from", "contact_id", "partner_id"])
        if self.filtered("sender_known"):
            raise UserError(
                self.env._("The sender of this mail is already linked to a contact.")
            )
        if not all(self.mapped("email_from")):
            raise UserError(self.env._("This mail has no sender address."))
        if len(self) > MASS_NOW:
            return self._queue_mass(
                "create_company_contact" if with_company else "create_contact"
            )
        contacts = self._make_sender_partners(with_company)
        return self._open_records(contacts, self.env._("Contacts from Mail"))

    def _make_sender_partners(self, with_company):
        contacts = self.env["res.partner"]
        for mails in self._by_sender():
            mail = mails[0]
            contact = mail._create_sender_contact(with_company)
            values = self._link_values(contact, mail.company_id)
            mails._fill_links(values)
            contacts |= contact
        return contacts

    def _create_sender_contact(self, with_company):
        """The sender as a contact, in a company made from his domain.

        :param bool with_company: also find or create the company (never
            for a public mail domain)
        :return: the new contact
        """
        self.ensure_one()
        contact, _company = self._new_sender_partner(
            self.env["res.partner"],
            self.company_id,
            self.email_from,
            self.from_name,
            with_company=with_company,
        )
        return contact

    def _log_note_on(self, record):
        """Copy the mail to the chatter of ``record`` as an internal note."""
        self.ensure_one()
        header = Markup("<p><b>%s</b></p>") % self.env._(
            "Mail from %(who)s to %(to)s: %(subject)s",
            who=self.from_name or self.email_from or "",
            to=self.email_to or "",
            subject=self.subject or "",
        )
        attachments = self._copy_attachments_to(record)
        return record.message_post(
            body=header + self._body_html(),
            subtype_xmlid="mail.mt_note",
            message_type="comment",
            attachment_ids=attachments.ids,
        )

    def _open_records(self, records, name):
        action = {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": records._name,
            "target": "current",
        }
        if len(records) == 1:
            action.update(view_mode="form", views=[(False, "form")], res_id=records.id)
        else:
            action.update(
                view_mode="list,form",
                views=[(False, "list"), (False, "form")],
                domain=[("id", "in", records.ids)],
            )
        return action


def subjects_text(mails, shown=10):
    """The subjects of ``mails`` for a message: the first ``shown``, then …"""
    names = [m.subject or "?" for m in mails[:shown]]
    return ", ".join(names) + ("…" if len(mails) > shown else "")


def not_yours_message(env, record):
    """Why the user may not act on ``record``, and whom to ask."""
    record = record.sudo()
    owner = record.user_id if "user_id" in record._fields else None
    if owner:
        return env._(
            "%(record)s belongs to %(owner)s: ask them or a sales manager.",
            record=record.display_name,
            owner=owner.name,
        )
    return env._("You may not change %s: ask a sales manager.", record.display_name)
