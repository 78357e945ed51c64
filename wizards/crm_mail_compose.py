from markupsafe import Markup, escape

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_datetime

from ..mail_engine import compose
from ..mail_engine.addresses import (
    format_address_list,
    invalid_entries,
    normalize,
    parse_address_list,
    split_addresses,
)
from ..mail_engine.mime_html import block_remote_images

TEMPLATE_MODELS = ("crm.mail.message", "res.partner", "crm.lead")


class CrmMailCompose(models.TransientModel):
    """Write a mail (new, reply, reply all, forward, mass) and send or save it."""

    _name = "crm.mail.compose"
    _description = "Compose Mail"

    composition_mode = fields.Selection(
        [("single", "One mail"), ("mass", "One mail per recipient")],
        default="single",
        required=True,
    )
    allowed_account_ids = fields.Many2many(
        "crm.mail.account", compute="_compute_allowed_account_ids"
    )
    account_id = fields.Many2one(
        "crm.mail.account",
        string="From",
        domain="[('id', 'in', allowed_account_ids)]",
        default=lambda self: self.env["crm.mail.account"]._default_sender(),
    )
    partner_ids = fields.Many2many(
        "res.partner",
        "crm_mail_compose_partner_rel",
        string="Recipients",
        help="Contacts and companies to write to; their addresses go to To.",
    )
    lead_ids = fields.Many2many(
        "crm.lead",
        "crm_mail_compose_lead_rel",
        string="Leads",
        help="Mass mail: each lead's contact (else the lead's own address) "
        "gets a mail of his own, linked to the lead.",
    )
    extra_addresses = fields.Char(
        string="Other Addresses",
        help="Mass mail: more addresses, separated by commas; each gets a mail "
        "of his own.",
    )
    email_to = fields.Char(string="To", help="Addresses, separated by commas.")
    chip_addresses = fields.Char(
        help="The addresses that the Recipients put into To: removing a "
        "recipient takes his address out again."
    )
    show_details = fields.Boolean(
        string="Cc, Bcc, Template",
        help="Cc, Bcc and Template are shown (at once when a mail has copies).",
    )
    email_cc = fields.Char(string="Cc")
    email_bcc = fields.Char(string="Bcc")
    subject = fields.Char()
    body = fields.Html(sanitize=True, sanitize_style=True)
    attachment_ids = fields.Many2many(
        "ir.attachment", "crm_mail_compose_attachment_rel", string="Attachments"
    )
    template_id = fields.Many2one(
        "mail.template",
        domain=[("model", "in", TEMPLATE_MODELS)],
        help="Templates on CRM mail, on contacts or on leads, rendered for "
        "the recipient (a lead template for each lead of a mass mailing).",
    )
    parent_id = fields.Many2one("crm.mail.message", string="Reply To Mail")
    lead_id = fields.Many2one("crm.lead")
    draft_id = fields.Many2one("crm.mail.message")
    autosaved = fields.Boolean(
        help="The draft was kept by the composer on its own while the mail "
        "was written: Discard removes it."
    )
    recipient_count = fields.Integer(compute="_compute_recipient_count")

    # ------------------------------------------------------------
    # DEFAULTS
    # ------------------------------------------------------------

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        draft = self.env["crm.mail.message"].browse(values.get("draft_id"))
        if draft:
            values.update(self._values_from_draft(draft))
            values["show_details"] = bool(
                values.get("email_cc") or values.get("email_bcc")
            )
            return values
        mode = self.env.context.get("crm_mail_compose_mode")
        parent = self.env["crm.mail.message"].browse(values.get("parent_id"))
        account = self.env["crm.mail.account"].browse(values.get("account_id"))
        if parent and mode in ("reply", "reply_all", "forward"):
            values.update(self._values_for(parent, mode))
            account = self.env["crm.mail.account"].browse(values["account_id"])
        if "body" in fields_list and not values.get("body"):
            values["body"] = compose.set_signature(
                values.get("quote") or "<p><br></p>",
                account._signature_for(self.env.user),
            )
        values.pop("quote", None)
        partners = self.env["res.partner"].browse(
            self._ids_of(values.get("partner_ids"))
        )
        if (
            partners
            and not values.get("email_to")
            and values.get("composition_mode", "single") == "single"
        ):
            values["email_to"] = self._merge_addresses("", partners)
        if partners:
            values["chip_addresses"] = self._chip_addresses(
                partners, values.get("email_to")
            )
        # copies are shown when there are some (Reply All), else one link
        values["show_details"] = bool(values.get("email_cc") or values.get("email_bcc"))
        if values.get("lead_id") and values.get("subject") is not None:
            values["subject"] = compose.add_lead_token(
                values["subject"], values["lead_id"]
            )
        return values

    @api.model
    def _ids_of(self, commands):
        """Ids from a default x2many value (ids or commands)."""
        ids = []
        for command in commands or []:
            if isinstance(command, int):
                ids.append(command)
            elif command[0] == Command.SET:
                ids.extend(command[2])
            elif command[0] == Command.LINK:
                ids.append(command[1])
        return ids

    @api.model
    def _values_from_draft(self, draft):
        draft.check_access("write")
        partners = draft.contact_id or draft.partner_id
        return {
            "account_id": draft.account_id.id,
            "email_to": draft.email_to,
            "email_cc": draft.email_cc,
            "email_bcc": draft.email_bcc,
            "subject": draft.subject,
            "body": draft.body_html,
            "attachment_ids": [Command.set(draft.attachment_ids.ids)],
            "parent_id": draft.parent_id.id,
            "lead_id": draft.lead_id.id,
            "partner_ids": [Command.set(partners.ids)],
            "chip_addresses": self._chip_addresses(partners, draft.email_to),
        }

    @api.model
    def _values_for(self, parent, mode):
        """Recipients, subject, quote and account of a reply or forward."""
        parent.check_access("read")
        Account = self.env["crm.mail.account"]
        account = parent.account_id
        if not account._may_send():
            account = Account._default_sender()
        own = Account.sudo().search([]).mapped("email") + [self.env.user.email]
        own = [normalize(a) for a in own if a]
        values = {"account_id": account.id, "lead_id": parent.lead_id.id}
        when = format_datetime(self.env, parent.date) if parent.date else ""
        sender = format_address_list([(parent.from_name, parent.email_from)])
        # the editor would load the original's remote images (tracking)
        original, _blocked = block_remote_images(
            parent.body_html or Markup("<pre>%s</pre>") % escape(parent.body_text or "")
        )
        if mode == "forward":
            values["subject"] = compose.forward_subject(parent.subject)
            values["quote"] = "<p><br></p>" + compose.forward_html(
                original,
                self.env._("Forwarded message"),
                [
                    (self.env._("From"), sender),
                    (self.env._("Date"), when),
                    (self.env._("Subject"), parent.subject or ""),
                    (self.env._("To"), parent.email_to or ""),
                ],
            )
            values["attachment_ids"] = [
                Command.set(parent._copy_attachments_for_composer().ids)
            ]
            values["parent_id"] = False
            return values
        if parent.direction == "outgoing":
            # following up on our own mail: write to the same people again
            to = parent.email_to or ""
            cc = (parent.email_cc or "") if mode == "reply_all" else ""
        else:
            to, cc = compose.reply_recipients(
                format_address_list([(parent.from_name, parent.email_from)]),
                parent.reply_to,
                parent.email_to,
                parent.email_cc,
                own,
                reply_all=mode == "reply_all",
            )
        values.update(
            {
                "email_to": to,
                "email_cc": cc,
                "subject": compose.reply_subject(parent.subject),
                "quote": "<p><br></p>"
                + compose.quote_html(
                    original,
                    self.env._(
                        "On %(date)s, %(sender)s wrote:", date=when, sender=sender
                    ),
                ),
            }
        )
        partner = parent.contact_id or parent.partner_id
        if partner and parent.direction == "incoming":
            values["partner_ids"] = [Command.set(partner.ids)]
        return values

    # ------------------------------------------------------------
    # COMPUTES AND ONCHANGES
    # ------------------------------------------------------------

    @api.depends_context("uid")
    def _compute_allowed_account_ids(self):
        Account = self.env["crm.mail.account"]
        allowed = Account.search(Account._sendable_domain())
        for wizard in self:
            wizard.allowed_account_ids = allowed

    @api.depends(
        "partner_ids", "lead_ids", "extra_addresses", "email_to", "composition_mode"
    )
    def _compute_recipient_count(self):
        for wizard in self:
            if wizard.composition_mode == "mass":
                wizard.recipient_count = len(wizard._mass_recipients())
            else:
                wizard.recipient_count = len(wizard._recipients())

    @api.onchange("partner_ids")
    def _onchange_partner_ids(self):
        if self.composition_mode != "single":
            return
        before = set((self.chip_addresses or "").split(","))
        now = {normalize(p.email or "") for p in self.partner_ids} - {""}
        removed = before - now - {""}
        typed = self.email_to or ""
        if removed and not invalid_entries(typed):
            # a recipient removed: his address leaves To with him (what the
            # user typed himself stays)
            typed = format_address_list(
                pair for pair in parse_address_list(typed) if pair[1] not in removed
            )
        self.email_to = self._merge_addresses(typed, self.partner_ids)
        self.chip_addresses = self._chip_addresses(self.partner_ids, self.email_to)

    @api.model
    def _chip_addresses(self, partners, email_to):
        """The addresses of ``partners`` found in ``email_to``."""
        present = set(split_addresses(email_to or ""))
        return ",".join(sorted({normalize(p.email or "") for p in partners} & present))

    @api.onchange("account_id")
    def _onchange_account_id(self):
        if self.account_id:
            self.body = compose.set_signature(
                self.body or "", self.account_id._signature_for(self.env.user)
            )

    @api.onchange("template_id")
    def _onchange_template_id(self):
        if not self.template_id:
            return
        rendered = self._render_template(self.template_id, self.partner_ids[:1])
        if rendered.get("subject"):
            self.subject = rendered["subject"]
        if rendered.get("body"):
            self.body = compose.set_signature(
                rendered["body"], self.account_id._signature_for(self.env.user)
            )

    @api.model
    def _merge_addresses(self, typed, partners):
        """``typed`` plus the addresses of ``partners`` not in it yet."""
        present = set(split_addresses(typed or ""))
        extra = [
            (partner.name, normalize(partner.email))
            for partner in partners
            if normalize(partner.email or "")
            and normalize(partner.email) not in present
        ]
        return ", ".join(filter(None, [typed or "", format_address_list(extra)]))

    def _recipients(self):
        return split_addresses(
            ",".join(filter(None, [self.email_to, self.email_cc, self.email_bcc]))
        )

    def _mass_recipients(self):
        """Who gets a mail of a mass mailing, each address once: the leads
        (their contact, else their own address), the contacts, the other
        addresses typed.

        :return: list of (name, address, partner, lead)
        """
        seen, recipients = set(), []

        def add(name, address, partner, lead):
            address = normalize(address or "")
            if address and address not in seen:
                seen.add(address)
                recipients.append((name, address, partner, lead))

        Partner, Lead = self.env["res.partner"], self.env["crm.lead"]
        for lead in self.lead_ids:
            partner = (
                lead.partner_id if normalize(lead.partner_id.email or "") else Partner
            )
            name = partner.name or lead.contact_name or lead.partner_name or ""
            add(name, partner.email or lead.email_from, partner, lead)
        for partner in self.partner_ids.filtered("email"):
            add(partner.name, partner.email, partner, Lead)
        for address in split_addresses(self.extra_addresses or ""):
            add("", address, Partner, Lead)
        return recipients

    def _render_template(self, template, partner, lead=None):
        """Subject and body of ``template`` for ``partner`` (contact templates),
        ``lead`` (lead templates) or the mail answered (CRM mail templates)."""
        if template.model == "res.partner":
            record = partner
        elif template.model == "crm.lead":
            record = lead or self.lead_id
        elif template.model == "crm.mail.message":
            record = self.parent_id or self.draft_id
        else:
            record = None
        if not record:
            return {}
        res_id = record.id
        # both in the recipient's language (the template's "lang")
        return {
            name: template._render_field(field, [res_id], compute_lang=True)[res_id]
            for name, field in (("subject", "subject"), ("body", "body_html"))
        }

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_send(self):
        """Queue the mail (one, or one per recipient in mass mode) for the
        send cron, which starts at once (see ``_queue_for_sending``)."""
        self.ensure_one()
        self._check_ready(sending=True)
        if self.composition_mode == "mass":
            return self._queue_mass()
        mail = self._save_message("outgoing")
        mail._queue_for_sending()
        return mail._queued_notification()

    def action_save_draft(self):
        self.ensure_one()
        self._check_ready(sending=False)
        if self.composition_mode == "mass":
            # the whole mailing: a draft per recipient, sent later from
            # Drafts (select them, Action > Send)
            return self._open_mass(self._make_mass("draft"), self.env._("Drafts"))
        self._save_message("draft")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "title": self.env._("Draft saved"),
                "message": self.env._("Find it under Mail > Drafts."),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_autosave(self):
        """Keep the mail being written in Drafts, the composer staying open
        (the browser calls it every half minute while the mail changes): a
        closed tab or a crash loses nothing.

        :return: the draft's id, or False when there is nothing to keep yet
            or it may not be kept (*Save Draft* then says why)
        """
        self.ensure_one()
        if self.composition_mode != "single" or not (
            self.email_to or self.subject or compose.has_text(self.body or "")
        ):
            return False
        if self.draft_id and not self.autosaved:
            # a draft the user saved and reopened changes only when he says
            # so (Save Draft, Send): Discard must find it as he left it
            return False
        if self.draft_id.state not in (False, "draft"):
            return False  # sent or queued meanwhile, from another window
        try:
            self._check_ready(sending=False)
        except UserError:
            return False
        fresh = not self.draft_id
        mail = self._save_message("draft")
        if fresh:
            self.write({"draft_id": mail.id, "autosaved": True})
        return mail.id

    def action_discard_autosave(self):
        """Discard: a draft the composer kept on its own goes with the mail
        (a draft the user saved before, and reopened, stays)."""
        self.ensure_one()
        if self.autosaved and self.draft_id.state == "draft":
            self.draft_id.unlink()
        return True

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _check_ready(self, sending):
        """Refuse what cannot be sent, with a clear message; keep everything typed."""
        if not self.account_id:
            raise UserError(self.env._("Choose the account to send from."))
        self.account_id._check_may_send()
        Message = self.env["crm.mail.message"]
        Message._check_outgoing_fields(
            (self.subject, self.env._("Subject")),
            [
                (self.email_to, self.env._("To")),
                (self.email_cc, self.env._("Cc")),
                (self.email_bcc, self.env._("Bcc")),
                (self.extra_addresses, self.env._("Other Addresses")),
            ],
        )
        if self.composition_mode == "mass":
            # also for Save Draft: a mailing to nobody keeps nothing
            if not self._mass_recipients():
                raise UserError(
                    self.env._("None of the recipients has an e-mail address.")
                )
        if not sending:
            return
        if self.composition_mode != "mass" and (
            not self._recipients() and not self.partner_ids.filtered("email")
        ):
            raise UserError(self.env._("Add at least one recipient."))
        Message._check_attachment_weight(self.attachment_ids)

    def _bcc_with_author(self, state):
        """The Bcc, with the author added when the account copies him on
        what he sends (not on drafts: only what leaves)."""
        if state != "outgoing":
            return self.email_bcc or ""
        return self.env["crm.mail.message"]._with_author_bcc(
            self.account_id, self.email_bcc
        )

    def _message_vals(self, state, partners, email_to, subject, body, lead=None):
        """What the user wrote; the mail model adds the Message-ID, the
        sender address and the threading headers itself."""
        account = self.account_id
        Message = self.env["crm.mail.message"]
        lead = lead or self.lead_id or self.parent_id.lead_id
        if lead:
            subject = compose.add_lead_token(subject, lead.id)
        return {
            "account_id": account.id,
            "direction": "outgoing",
            "state": state,
            "email_to": email_to,
            "email_cc": self.email_cc or False,
            "email_bcc": self._bcc_with_author(state) or False,
            "subject": subject,
            "body_html": body,
            "lead_id": lead.id,
            "author_user_id": self.env.user.id,
            "user_id": self.env.user.id,
            "review_state": "reviewed",
            "parent_id": self.parent_id.id,
            **Message._outgoing_link_vals(account, partners, email_to, self.email_cc),
        }

    def _save_message(self, state):
        """Create (or update the draft into) the outgoing mail record."""
        email_to = self._merge_addresses(self.email_to, self.partner_ids)
        vals = self._message_vals(
            state, self.partner_ids, email_to, self.subject or "", self.body
        )
        mail = self.draft_id
        if mail and mail.state not in ("draft", "error"):
            # queued or sent meanwhile (from another window): never pulled
            # back, never sent twice
            raise UserError(
                self.env._(
                    "This mail has left Drafts meanwhile (sent or queued from "
                    "another window); find it under Mail > Sent or Outbox."
                )
            )
        if mail:
            mail.check_access("write")
            # the draft keeps its author, direction and the mail it answers
            for name in ("author_user_id", "direction", "parent_id"):
                vals.pop(name)
            account_id = vals.pop("account_id")
            if account_id != mail.account_id.id:
                # moving mail between accounts is an administrator's write;
                # a draft may change its sender (checked by _check_ready)
                mail.sudo().account_id = account_id
            mail.write(vals)
        else:
            mail = self.env["crm.mail.message"].create(vals)
        self._attach_to(mail, self.attachment_ids)
        return mail

    def _attach_to(self, mail, attachments):
        """Move the composer's uploads onto the mail; copy shared ones."""
        mine = attachments.filtered(
            lambda a: a.res_model in (self._name, False) or not a.res_id
        )
        mine.write({"res_model": mail._name, "res_id": mail.id})
        for attachment in attachments - mine:
            if attachment.res_model == mail._name and attachment.res_id == mail.id:
                continue
            attachment.copy({"res_model": mail._name, "res_id": mail.id})

    def _queue_mass(self):
        """One queued mail per recipient, rendered for him; the cron sends them."""
        mails = self._make_mass("outgoing")
        self.env.ref("crm_mail_client.ir_cron_send_mail")._trigger()
        return self._open_mass(mails, self.env._("Queued mails"))

    def _make_mass(self, state):
        """One mail per recipient of the mass mailing, rendered for him (a
        lead template for his lead, a contact template for his contact),
        linked to his lead; nobody sees the others.

        :param str state: ``outgoing`` (queued) or ``draft``
        :return: the ``crm.mail.message`` records
        """
        Message = self.env["crm.mail.message"]
        mails = Message
        template = self.template_id
        signature = self.account_id._signature_for(self.env.user)
        for name, address, partner, lead in self._mass_recipients():
            subject, body = self.subject or "", self.body
            rendered = (
                self._render_template(template, partner, lead) if template else {}
            )
            if rendered:
                subject = rendered.get("subject") or subject
                body = compose.set_signature(rendered.get("body") or body, signature)
            email_to = format_address_list([(name or "", address)])
            vals = self._message_vals(state, partner, email_to, subject, body, lead)
            # every recipient gets his own mail: nobody sees the others (nor
            # does the author get a copy of each)
            vals.update({"email_cc": False, "email_bcc": False})
            mail = Message.create(vals)
            for attachment in self.attachment_ids:
                attachment.copy({"res_model": mail._name, "res_id": mail.id})
            mails |= mail
        if mails:
            # the server's mark (users do not write it)
            mails.sudo().write({"mass_mailing": True})
            self.attachment_ids.filtered(
                lambda a: a.res_model == self._name or not a.res_id
            ).unlink()
        return mails

    def _open_mass(self, mails, title):
        return {
            "type": "ir.actions.act_window",
            "name": title,
            "res_model": "crm.mail.message",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("id", "in", mails.ids)],
            "target": "current",
        }

    @api.model
    def _action_open(self, context, title=None):
        """The composer in a dialog, with ``context`` (defaults, mode)."""
        return {
            "type": "ir.actions.act_window",
            "name": title or self.env._("New Mail"),
            "res_model": self._name,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }
