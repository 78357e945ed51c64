import base64
import hashlib
import logging
import socket

import psycopg2

from odoo import api, fields, models

from ..mail_engine import mime
from ..mail_engine.classify import classify
from ..mail_engine.exceptions import ParseError
from .crm_mail_account_fetch import DELETE_FROM_SERVER
from .crm_mail_message import SERVER_STATES

_logger = logging.getLogger(__name__)

STORED, QUARANTINED, DUPLICATE, SELF = "stored", "quarantined", "duplicate", "self"
BLACKLISTED = "blacklisted"
#: a routing rule said not to store it
IGNORED = "ignored"
#: Odoo writes its own host name into the Message-IDs of its notifications
OWN_HOSTS = (socket.gethostname(),)


class CrmMailMessage(models.Model):
    """From raw bytes to a stored mail: parse, classify, deduplicate, store."""

    _inherit = "crm.mail.message"

    attachment_note = fields.Text(
        readonly=True, help="Attachments that were not saved, and why."
    )
    server_deleted = fields.Boolean(readonly=True, copy=False)

    @api.model
    def _ingest_raw(self, account, raw, source, cache=None):
        """Store one raw mail fetched from an account, or say why not.

        Never raises for a bad mail: what cannot be parsed or stored is kept
        as a quarantined mail with its raw bytes attached.

        :param account: the ``crm.mail.account`` (sudo) it was fetched from
        :param bytes raw: the message as the server sent it
        :param dict source: where it came from: ``folder_id``, ``imap_uid``,
            ``imap_uidvalidity`` or ``pop3_uidl``
        :param dict cache: per-run cache (compiled blacklist and routing rules)
            kept by the caller
        :return: tuple (outcome, detail): outcome is one of ``stored``,
            ``quarantined``, ``duplicate``, ``self``, ``blacklisted``,
            ``ignored`` (by a routing rule)
        """
        try:
            parsed = mime.parse(
                raw,
                save_attachments=account.save_attachments,
                max_attachment_bytes=(account.max_attachment_mb or 0) * 1024 * 1024
                or None,
            )
        except ParseError as error:
            return self._quarantine(
                account, raw, source, self._parse_error_message(error)
            )
        key = parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
        direction = "outgoing" if parsed.email_from == account.email else "incoming"
        if direction == "outgoing" and self._sent_to_itself(account, parsed):
            return SELF, parsed.message_id or key
        cache = {} if cache is None else cache
        if "blacklist" not in cache:
            cache["blacklist"] = self.env["crm.mail.blacklist"]._compiled(account)
        if direction == "incoming":
            entry = self.env["crm.mail.blacklist"]._hit(
                cache["blacklist"], parsed.email_from
            )
            if entry:
                return BLACKLISTED, f"{parsed.email_from} ({entry.pattern})"
        duplicate = self.search(
            [("account_id", "=", account.id), ("dedupe_key", "=", key)], limit=1
        )
        if duplicate:
            return DUPLICATE, key
        rules = self.env["crm.mail.rule"]
        if direction == "incoming":
            rules = rules._route(account, parsed, cache)
        delete = any(rules.mapped("action_delete_from_server"))
        if any(rules.mapped("action_ignore")):
            cache[DELETE_FROM_SERVER] = delete
            names = ", ".join(rules.filtered("action_ignore").mapped("name"))
            return IGNORED, f"{key} ({names})"
        try:
            with self.env.cr.savepoint():
                self._store_parsed(
                    account, raw, parsed, key, direction, source, rules=rules
                )
        except psycopg2.IntegrityError:
            # another process stored the same server message first
            return DUPLICATE, key
        except psycopg2.OperationalError:
            # the database, not the mail: serialization failure, lock or
            # statement timeout, lost connection. The fetch stops at the last
            # commit point and the next run fetches the mail again.
            raise
        except Exception as error:  # noqa: BLE001 - never lose a mail
            _logger.warning(
                "Mail %s of account %s could not be stored, quarantined.",
                key,
                account.id,
                exc_info=True,
            )
            reason = self.env._(
                "The mail was read but could not be stored: %(error)s",
                error=repr(error),
            )
            return self._quarantine(account, raw, source, reason, key=key)
        cache[DELETE_FROM_SERVER] = delete
        return STORED, key

    @api.model
    def _sent_to_itself(self, account, parsed):
        recipients = {addr for _name, addr in parsed.to + parsed.cc}
        return recipients == {account.email}

    @api.model
    def _store_parsed(self, account, raw, parsed, key, direction, source, rules=None):
        """Create the mail record and its attachments, linked to its partners.

        :param rules: the ``crm.mail.rule`` records that fired, in order
        :return: the new ``crm.mail.message``
        """
        kind = classify(parsed, own_message_id_domains=OWN_HOSTS)
        vals = {
            "account_id": account.id,
            "direction": direction,
            "state": "received",
            "message_id": parsed.message_id,
            "dedupe_key": key,
            "in_reply_to": parsed.in_reply_to,
            "references": " ".join(parsed.references) or False,
            "date": parsed.date or fields.Datetime.now(),
            "email_from": parsed.email_from,
            "from_name": parsed.from_name,
            "email_to": parsed.email_to,
            "email_cc": parsed.email_cc,
            "email_bcc": parsed.email_bcc,
            "reply_to": parsed.reply_to,
            "subject": parsed.subject,
            "body_text": parsed.body_text,
            # in the INSERT: a later write would cost one UPDATE per mail
            "body_html": parsed.body_html,
            "size": len(raw),
            "user_id": account.user_id.id,
            "has_attachments": any(a.data is not None for a in parsed.attachments),
            "attachment_note": self._attachment_note(parsed) or False,
            "auto_kind": kind.auto_kind or False,
            **self._thread_vals(account, parsed),
            **self._link_vals(account, parsed, direction, kind),
            **source,
        }
        if rules:
            vals = self._apply_rules(account, parsed, vals, rules)
        message = self.create(vals)
        message._adopt_orphans()
        cid_urls = {}
        att_vals = [
            {
                "name": att.filename,
                "raw": att.data,
                "mimetype": att.content_type,
                "res_model": self._name,
                "res_id": message.id,
            }
            for att in parsed.attachments
            if att.data is not None
        ]
        if account.keep_original:
            att_vals.append(self._raw_attachment_vals(message, raw))
        attachments = self.env["ir.attachment"].create(att_vals)
        saved = [att for att in parsed.attachments if att.data is not None]
        for att, record in zip(saved, attachments, strict=False):
            if att.content_id:
                cid_urls[att.content_id] = f"/web/image/{record.id}"
        if cid_urls:
            message.body_html = mime.replace_cids(parsed.body_html, cid_urls)
        return message

    @api.model
    def _attachment_note(self, parsed):
        reasons = {
            "too_large": self.env._("not saved: over the size limit"),
            "disabled": self.env._(
                "not saved: attachments are switched off for this account"
            ),
        }
        return "\n".join(
            "%s (%s KB): %s"
            % (
                att.filename,
                att.size // 1024,
                reasons.get(att.skipped_reason, att.skipped_reason),
            )
            for att in parsed.attachments
            if att.data is None
        )

    @api.model
    def _thread_vals(self, account, parsed):
        """Find the parent mail from In-Reply-To, else References (last first)."""
        ids = [i for i in [parsed.in_reply_to, *reversed(parsed.references)] if i]
        if not ids:
            return {}
        # within the account only: another mailbox has other readers, and
        # its thread would show them this one (and hand it its lead)
        candidates = self.search(
            [("account_id", "=", account.id), ("message_id", "in", ids)]
        )
        by_id = {c.message_id: c for c in candidates}
        for mid in ids:
            parent = by_id.get(mid)
            if parent:
                return {
                    "parent_id": parent.id,
                    "thread_root_id": (parent.thread_root_id or parent).id,
                }
        return {}

    def _adopt_orphans(self):
        """Mails that arrived before this one, their parent, join its thread."""
        if not self.message_id:
            return
        orphans = self.search(
            [
                ("in_reply_to", "=", self.message_id),
                ("parent_id", "=", False),
                ("account_id", "=", self.account_id.id),
                ("id", "!=", self.id),
            ]
        )
        root = self.thread_root_id or self
        orphans.write({"parent_id": self.id, "thread_root_id": root.id})
        self.search([("thread_root_id", "in", orphans.ids)]).write(
            {"thread_root_id": root.id}
        )

    @api.model
    def _raw_attachment_vals(self, message, raw):
        return {
            "name": "original.eml",
            "datas": base64.b64encode(raw),
            "mimetype": "message/rfc822",
            "res_model": self._name,
            "res_id": message.id,
        }

    @api.model
    def _parse_error_message(self, error):
        """A translated sentence for a mail the engine could not parse, with
        the technical detail for whoever investigates."""
        sentences = {
            "empty": self.env._("The server gave an empty message."),
            "not_a_mail": self.env._(
                "The message has no mail headers: it is not an e-mail."
            ),
        }
        sentence = sentences.get(
            error.code, self.env._("The message cannot be parsed.")
        )
        detail = error.detail or error
        return f"{sentence} ({detail})"

    def _quarantine(self, account, raw, source, reason, key=None):
        """Keep a mail that could not be parsed or stored, with its raw bytes.

        :return: (``quarantined``, reason)
        """
        key = key or "sha256:" + hashlib.sha256(raw).hexdigest()
        subject = self.env._("Unreadable mail")
        try:
            parsed = mime.parse(raw[:65536], save_attachments=False)
            subject = parsed.subject or subject
        except Exception:  # noqa: BLE001 - best effort for a label only
            _logger.debug("No subject for quarantined mail %s", key, exc_info=True)
        try:
            with self.env.cr.savepoint():
                message = self.create(
                    {
                        "account_id": account.id,
                        "state": "quarantined",
                        "dedupe_key": key,
                        "subject": subject[:500],
                        "error": reason,
                        "size": len(raw),
                        **source,
                    }
                )
                self.env["ir.attachment"].create(
                    self._raw_attachment_vals(message, raw)
                )
        except psycopg2.IntegrityError:
            # already kept once (the server gave it again after a resync)
            return DUPLICATE, key
        return QUARANTINED, reason

    def unlink(self):
        deletions = [
            {
                "account_id": m.account_id.id,
                "folder_name": m.folder_id.name,
                "imap_uidvalidity": m.imap_uidvalidity,
                "imap_uid": m.imap_uid,
                "pop3_uidl": m.pop3_uidl,
            }
            for m in self.sudo()
            # only what the server gave: a draft has no place there
            if m.state in SERVER_STATES
            and m.account_id.delete_on_server_with_record
            and not m.server_deleted
            and ((m.folder_id and m.imap_uid) or m.pop3_uidl)
        ]
        res = super().unlink()
        self.env["crm.mail.server.deletion"].sudo().create(deletions)
        return res
