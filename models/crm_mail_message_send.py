import logging
import smtplib
import time
from collections import defaultdict
from datetime import timedelta
from email.utils import make_msgid

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.base.models.ir_mail_server import (
    MailDeliveryException,
    extract_rfc2822_addresses,
)

from ..mail_engine import compose, smtp_session
from ..mail_engine.addresses import (
    domain_of,
    invalid_entries,
    normalize,
    split_addresses,
)
from ..mail_engine.exceptions import MailEngineError
from ..mail_engine.imap_session import ImapSession
from .cron_limits import continue_later, job_deadline

_logger = logging.getLogger(__name__)

#: a mail left in 'sending' longer than this was interrupted (crash, kill)
SENDING_STALE_MINUTES = 10
#: mails the send cron handles per run before it reports its progress
SEND_BATCH = 50
#: tries of a mail the server cannot take for now, before it fails
MAX_SEND_ATTEMPTS = 5
#: minutes before the second try; each later wait doubles
RETRY_FIRST_MINUTES = 2
#: engine error codes of a server that cannot be reached for now
TRANSIENT_CODES = ("host_not_found", "connection_refused", "network", "timeout")


def _temporary(error):
    """Whether an SMTP refusal is temporary (4xx): the mail was not taken."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in error.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return False


def _wire_address(address):
    """An address as compared on the wire: lower case, IDN domain in ASCII."""
    local, _sep, domain = address.strip().rpartition("@")
    try:
        wire = domain.encode("idna").decode("ascii")
    except UnicodeError:
        wire = domain  # not an IDN we can encode: compared as it is
    return f"{local}@{wire}".lower()


def _envelope_addresses(message, recipients):
    """The addresses of the message's To, Cc and Bcc that are recipients.

    ``ir.mail_server`` extracts everything that looks like an address from
    those headers (``"Bike@Home" <a@b>`` gives two); only the ones our
    parser found among the mail's recipients are kept, spelt as in the
    headers (international domains in their ASCII form, as there).
    """
    wanted = {_wire_address(address) for address in recipients}
    found = []
    for header in ("To", "Cc", "Bcc"):
        for address in extract_rfc2822_addresses(message[header] or ""):
            if _wire_address(address) in wanted:
                found.append(address)
    return found


class _RefusalRecorder:
    """An SMTP session that keeps what ``send_message`` answers: Odoo's
    ``send_email`` drops the recipients the server refused while it took
    the others."""

    def __init__(self, smtp):
        self._smtp = smtp
        self.refused = {}

    def __getattr__(self, name):
        return getattr(self._smtp, name)

    def send_message(self, *args, **kwargs):
        self.refused = self._smtp.send_message(*args, **kwargs) or {}
        return self.refused


class CrmMailMessage(models.Model):
    """Outgoing mail: build with Odoo's ir.mail_server, send over verified TLS."""

    _inherit = "crm.mail.message"

    send_attempts = fields.Integer(
        readonly=True, copy=False, help="Tries the SMTP server could not take."
    )
    mass_mailing = fields.Boolean(
        readonly=True,
        copy=False,
        help="One mail of a mass mailing: nobody else sees it, and its author "
        "gets no copy of each.",
    )
    next_try = fields.Datetime(
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="A queued mail the server could not take for now waits until then.",
    )

    # ------------------------------------------------------------
    # CREATION
    # ------------------------------------------------------------

    @api.model
    def _new_message_id(self, account):
        return make_msgid(domain=domain_of(account.email) or "localhost")

    @api.model
    def _outgoing_thread_vals(self, parent):
        """Threading values of a reply to ``parent`` (In-Reply-To, References)."""
        if not parent:
            return {"parent_id": False, "in_reply_to": False}
        return {
            "parent_id": parent.id,
            "thread_root_id": (parent.thread_root_id or parent).id,
            "in_reply_to": parent.message_id or False,
            "references": compose.references_for(parent.references, parent.message_id)
            or False,
        }

    @api.model
    def _outgoing_link_vals(self, account, partners, email_to, email_cc):
        """Contact and company of an outgoing mail: the chosen partner first,
        else the first recipient address a partner has."""
        if partners:
            return self._link_values(partners[0], account.company_id)
        addresses = split_addresses(",".join(filter(None, [email_to, email_cc])))
        return self._match_partner(addresses, account.company_id)

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_retry(self):
        """Send a failed mail again (the same Message-ID: no double thread).

        Queued for the send cron, which starts at once: nothing reaches the
        SMTP server inside this request (see :meth:`_queue_for_sending`).
        """
        failed = self.filtered(
            lambda m: m.state == "error" and m.direction == "outgoing"
        )
        if not failed:
            raise UserError(
                self.env._("Only outgoing mails that failed can be retried.")
            )
        # the author queues it again (his rights checked); the server clears
        # the reason of the last failure and its retry count
        failed.write({"state": "outgoing"})
        failed.sudo().write({"error": False, "send_attempts": 0, "next_try": False})
        failed._queue_for_sending()
        if len(failed) == 1:
            return failed._queued_notification()
        return True

    def action_cancel_sending(self):
        """Take queued or failed mails back to drafts."""
        mails = self.filtered(lambda m: m.state in ("outgoing", "error"))
        mails.write({"state": "draft"})
        return True

    def _queue_for_sending(self):
        """Have the send cron send these queued mails now.

        The SMTP dialogue never runs inside a request: a server that accepts
        the mail and a request that fails afterwards (or a worker killed)
        would erase the record and invite a second send with another
        Message-ID. The cron commits "sending" before it talks to the
        server and "sent" right after.
        """
        self.env.ref("crm_mail_client.ir_cron_send_mail").sudo()._trigger()

    def _queued_notification(self):
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Mail queued"),
                "message": self.env._(
                    "%(subject)s leaves in a moment; Mail > Outbox shows it "
                    "until it is sent, and why if it cannot be.",
                    subject=self.subject or self.env._("(no subject)"),
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    # ------------------------------------------------------------
    # SENDING
    # ------------------------------------------------------------

    def _auto_commit_sending(self):
        return self.env["crm.mail.account"]._auto_commit()

    def _send_now(self, auto_commit=False, author_lang=False, deadline=None):
        """Send these queued mails, one SMTP session per account.

        Failures are kept on each mail (``state='error'`` and the reason),
        or rescheduled when temporary (see :meth:`_send_later`); nothing
        raises for a refused login, recipient, a timeout or a bad mail.

        :param bool auto_commit: commit around every mail (cron only): a
            mail handed to the server must never be sent twice after a crash
        :param bool author_lang: write each failure in the language of the
            mail's author (cron only: it has no user language)
        :param float deadline: ``time.monotonic()`` after which no new mail
            is started (it stays queued for the next run)
        :return: the mails handled (sent, failed or rescheduled)
        """
        queued = self.filtered(
            lambda m: m.state == "outgoing" and m.direction == "outgoing"
        )
        handled = self.browse()

        def in_lang(mails):
            return mails._by_author_lang() if author_lang else [mails]

        for account in queued.account_id:
            if deadline and time.monotonic() > deadline:
                break
            mails = queued.filtered(lambda m, a=account: m.account_id == a)
            server = f"{account.smtp_host}:{account.smtp_port}"
            if not account.smtp_host:
                for group in in_lang(mails):
                    group._send_failed(
                        group.env._(
                            "The account %(account)s has no SMTP server.",
                            account=account.name,
                        ),
                        auto_commit,
                    )
                handled |= mails
                continue
            try:
                smtp = smtp_session.open_smtp(account._smtp_config())
            except MailEngineError as error:
                for group in in_lang(mails):
                    reason = account.with_env(group.env)._engine_error_message(
                        error, server
                    )
                    if error.code in TRANSIENT_CODES:
                        group._send_later(reason, auto_commit)
                    else:
                        group._send_failed(reason, auto_commit)
                handled |= mails
                continue
            sent = []
            try:
                for group in in_lang(mails):
                    for mail in group:
                        if deadline and time.monotonic() > deadline:
                            break
                        message = mail._send_one(smtp, server, auto_commit)
                        handled |= mail
                        if message is not None:
                            sent.append((mail, message))
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
            if account.upload_sent:
                self._upload_to_sent(account, sent)
        return handled

    def _send_failed(self, reason, auto_commit):
        self.sudo().write({"state": "error", "error": reason, "next_try": False})
        if auto_commit:
            # the failure is what the user must see, whatever follows
            self.env.cr.commit()  # pylint: disable=invalid-commit
            for mail in self:
                mail._tell_author(reason)

    def _send_later(self, reason, auto_commit):
        """A temporary failure (the server unreachable, a 4xx answer): the
        mail is queued again with a growing delay, and fails after
        :data:`MAX_SEND_ATTEMPTS` tries."""
        moments = set()
        for mail in self:
            attempts = mail.send_attempts + 1
            if attempts >= MAX_SEND_ATTEMPTS:
                mail._send_failed(reason, auto_commit)
                continue
            later = fields.Datetime.now() + timedelta(
                minutes=RETRY_FIRST_MINUTES * 2 ** (attempts - 1)
            )
            moments.add(later)
            mail.sudo().write(
                {
                    "state": "outgoing",
                    "send_attempts": attempts,
                    "next_try": later,
                    "error": self.env._(
                        "Not sent yet: %(reason)s. Try %(attempt)s of %(max)s at "
                        "%(when)s UTC.",
                        reason=reason,
                        attempt=attempts + 1,
                        max=MAX_SEND_ATTEMPTS,
                        when=fields.Datetime.to_string(later),
                    ),
                }
            )
        if moments:
            # the send cron wakes up when the first of them is due
            self.env.ref("crm_mail_client.ir_cron_send_mail").sudo()._trigger(
                at=min(moments)
            )
        if auto_commit:
            # the schedule survives whatever follows
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _tell_author(self, reason):
        """A live notification to the author whose mail failed (he sent it
        from a dialog that closed long ago)."""
        self.ensure_one()
        partner = self.author_user_id.partner_id
        if partner:
            partner._bus_send(
                "simple_notification",
                {
                    "type": "danger",
                    "sticky": True,
                    "title": self.env._("Mail not sent: %s", self.subject or ""),
                    "message": reason,
                },
            )

    def _send_one(self, smtp, server, auto_commit):
        """Send one queued mail on an open session.

        :return: the sent ``email.message.Message`` (for the Sent copy), or
            None when it was not sent now (failed, waits for another try, or
            no longer queued)
        """
        self.ensure_one()
        mail = self.sudo()
        if not mail._claim():
            return None  # taken back to draft (or sent) since it was queued
        if auto_commit:
            # 'sending' is on disk before the server gets the mail: after a
            # crash it tells a human to check, and is never resent blindly
            self.env.cr.commit()  # pylint: disable=invalid-commit
        if getattr(smtp, "sock", True) is None:
            # the server closed the session earlier in the batch (a 421):
            # this mail never left, it is tried again later
            self._send_later(
                self.env._("%(server)s closed the session.", server=server), auto_commit
            )
            return None
        recorder = _RefusalRecorder(smtp)
        try:
            message = mail._build_email()
            # RCPT TO only for the addresses the mail really holds: Odoo would
            # also take '"Bike@Home" <a@b>' for two recipients
            recipients = split_addresses(
                ",".join(filter(None, [mail.email_to, mail.email_cc, mail.email_bcc]))
            )
            envelope = _envelope_addresses(message, recipients)
            if not envelope:
                raise UserError(self.env._("None of the recipients is an address."))
            mail.env["ir.mail_server"].with_context(
                send_validated_to=envelope
            ).send_email(message, smtp_server=server, smtp_session=recorder)
        except MailDeliveryException as error:
            reason = error.args[1] if len(error.args) > 1 else str(error)
            if _temporary(error.__context__):
                self._send_later(reason, auto_commit)
            else:
                self._send_failed(reason, auto_commit)
            return None
        except smtplib.SMTPServerDisconnected as error:
            # the server may or may not have taken it: a human decides
            self._send_failed(
                self.env._(
                    "%(server)s closed the connection: %(error)s. The mail may "
                    "have reached the recipient: check before pressing Retry.",
                    server=server,
                    error=error,
                ),
                auto_commit,
            )
            return None
        except psycopg2.OperationalError:
            raise  # the database, not the mail: the next run sends it
        except Exception as error:  # noqa: BLE001 - a bad mail fails alone
            _logger.warning("Mail %s could not be sent.", mail.id, exc_info=True)
            self._send_failed(
                self.env._("The mail could not be sent: %(error)s", error=error),
                auto_commit,
            )
            return None
        refused = "; ".join(
            f"{address}: {code} {reply.decode('utf-8', 'replace')}"
            for address, (code, reply) in recorder.refused.items()
        )
        mail.write(
            {
                "state": "sent",
                "date": fields.Datetime.now(),
                # the others got it; who did not is told, not lost
                "error": self.env._(
                    "Sent, but the server refused these recipients: %(refused)s",
                    refused=refused,
                )
                if refused
                else False,
                "next_try": False,
            }
        )
        mail._mark_parent_answered()
        if auto_commit:
            # sent is sent: never send it again
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return message

    def _mark_parent_answered(self):
        """The mail answered shows who answered it and when, to everyone who
        reads it (also without the right to read the answer itself)."""
        parent = self.parent_id.sudo()
        if parent and parent.direction == "incoming" and self.state == "sent":
            parent.write(
                {
                    "answered_by_id": (self.author_user_id or self.env.user).id,
                    "answered_date": self.date,
                }
            )
            parent._queue_answered()

    def _claim(self):
        """Mark this queued mail 'sending', unless it is no longer queued:
        its author may have taken it back to draft since the batch began."""
        self.ensure_one()
        self.env.flush_all()
        self.env.cr.execute(
            """UPDATE crm_mail_message
                  SET state = 'sending', write_date = (now() at time zone 'UTC'),
                      write_uid = %s
                WHERE id = %s AND state = 'outgoing' AND direction = 'outgoing'
            RETURNING id""",
            (self.env.uid, self.id),
        )
        claimed = bool(self.env.cr.fetchone())
        self.invalidate_recordset(["state", "write_date", "write_uid"])
        return claimed

    def _build_email(self):
        """The RFC 5322 message of this mail, built by ``ir.mail_server``.

        ``Return-Path`` is the account's address (bounces come back to the
        sales mailbox, not the company's catchall) and replies carry
        ``In-Reply-To`` and ``References``, which ``build_email`` does not set.
        """
        self.ensure_one()
        account = self.account_id
        headers = {"Return-Path": account.email}
        if self.in_reply_to:
            headers["In-Reply-To"] = self.in_reply_to
        self._check_no_line_breaks(
            [
                (self.subject, self.env._("Subject")),
                (self.email_to, self.env._("To")),
                (self.email_cc, self.env._("Cc")),
                (self.email_bcc, self.env._("Bcc")),
            ]
        )
        attachments = [
            (att.name, att.raw, att.mimetype) for att in self.attachment_ids.sudo()
        ]
        return self.env["ir.mail_server"].build_email(
            email_from=account._from_header(),
            email_to=self.email_to or "",
            subject=self.subject or "",
            body=self.body_html or "",
            email_cc=self.email_cc or None,
            email_bcc=self.email_bcc or None,
            attachments=attachments,
            message_id=self.message_id,
            references=self.references or None,
            subtype="html",
            headers=headers,
        )

    @api.model
    def _upload_to_sent(self, account, sent):
        """Append sent mails to the server's Sent folder, in one IMAP session.

        A failure here does not unsend anything: it is noted on each mail.

        :param account: the ``crm.mail.account`` they were sent from
        :param list sent: ``(crm.mail.message, email.message.Message)`` pairs
        """
        if not sent or account.protocol != "imap" or not account.incoming_host:
            return
        try:
            with ImapSession.open(account._incoming_config()) as session:
                folder = account._sent_folder_name(session)
                for mail, message in sent:
                    if mail.email_bcc and not message["Bcc"]:
                        # the sender's own copy keeps the Bcc, as clients do
                        message["Bcc"] = mail.email_bcc
                    session.append(folder, message.as_bytes())
        except MailEngineError as error:
            _logger.info("Sent mail not copied to Sent: %s", error)
            for mail, _message in sent:
                # a note of the system on a mail that is sent, hence frozen
                mail.sudo().write(
                    {
                        "error": mail.env._(
                            "Sent, but not copied to the Sent folder: %(reason)s",
                            reason=account._engine_error_message(error),
                        )
                    }
                )

    # ------------------------------------------------------------
    # CRON
    # ------------------------------------------------------------

    @api.model
    def _cron_send_mail(self, batch_size=SEND_BATCH):
        """Send queued mail in batches, within the cron's time budget.

        WARNING: meant for cron usage only - commits around every mail.
        A mail found in 'sending' was interrupted by a crash: it may or may
        not have reached the server, so it goes to 'error' for a human to
        check, never back to the queue. Mails waiting for another try after
        a temporary failure are left alone until their time.
        """
        deadline = job_deadline(self.env)
        Message = self.sudo()
        auto_commit = self._auto_commit_sending()
        limit = fields.Datetime.now() - timedelta(minutes=SENDING_STALE_MINUTES)
        stale = Message.search([("state", "=", "sending"), ("write_date", "<", limit)])
        # what the cron writes is read by each mail's author: in his language
        for mails in stale._by_author_lang():
            mails.write(
                {
                    "state": "error",
                    "error": mails.env._(
                        "Interrupted while sending: the mail may have reached the "
                        "recipient. Check with him or in the Sent folder before "
                        "pressing Retry."
                    ),
                }
            )
        queue = [
            ("state", "=", "outgoing"),
            ("direction", "=", "outgoing"),
            "|",
            ("next_try", "=", False),
            ("next_try", "<=", fields.Datetime.now()),
        ]
        queued = Message.search(queue, limit=batch_size, order="id")
        if auto_commit:
            # each mail is claimed in a transaction of its own: one taken
            # back to draft meanwhile is then seen as such, not as a conflict
            self.env.cr.commit()  # pylint: disable=invalid-commit
        handled = queued._send_now(
            auto_commit=auto_commit, author_lang=True, deadline=deadline
        )
        remaining = Message.search_count(queue)
        if remaining and time.monotonic() > deadline:
            # this pass is over: the next one takes the rest, right away
            continue_later(self.env, self.env.ref("crm_mail_client.ir_cron_send_mail"))
            remaining = 0
        self.env["ir.cron"]._notify_progress(done=len(handled), remaining=remaining)

    def _by_author_lang(self):
        """These mails in groups, each in the context of its author's
        language (else the account's people's): a cron has none."""
        groups = defaultdict(self.browse)
        for mail in self:
            lang = mail.author_user_id.lang or mail.account_id._cron_lang()
            groups[lang] |= mail
        return [mails.with_context(lang=lang) for lang, mails in groups.items()]

    # ------------------------------------------------------------
    # COMPOSER
    # ------------------------------------------------------------

    def action_reply(self):
        return self._open_composer("reply")

    def action_reply_all(self):
        return self._open_composer("reply_all")

    def action_forward(self):
        return self._open_composer("forward")

    # ------------------------------------------------------------
    # CHECKS BEFORE SENDING (the composer's and Send Drafts')
    # ------------------------------------------------------------

    @api.model
    def _check_outgoing_fields(self, subject, addresses):
        """Refuse line breaks (header injection) and what is no address.

        :param tuple subject: (text, label) of the subject
        :param list addresses: (text, label) of each address field
        """
        self._check_no_line_breaks([subject, *addresses])
        for text, label in addresses:
            bad = invalid_entries(text)
            if bad:
                raise UserError(
                    self.env._(
                        "%(field)s: not an e-mail address: %(entries)s",
                        field=label,
                        entries=", ".join(bad),
                    )
                )

    @api.model
    def _check_no_line_breaks(self, pairs):
        """Refuse a line break in a header value (header injection).

        :param list pairs: (text, label) of each header
        """
        for text, label in pairs:
            try:
                compose.check_header_value(text, label)
            except compose.HeaderInjectionError as error:
                raise UserError(
                    self.env._("%(field)s may not contain line breaks.", field=label)
                ) from error

    @api.model
    def _check_attachment_weight(self, attachments):
        """Refuse attachments heavier than the setting, before sending."""
        limit = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("crm_mail_client.max_send_mb", 25)
            or 0
        )
        total = sum(attachments.sudo().mapped("file_size"))
        if limit and total > limit * 1024 * 1024:
            raise UserError(
                self.env._(
                    "The attachments weigh %(size).1f MB; mail sent from here may "
                    "carry %(limit)s MB at most. Remove some, or send them in "
                    "several mails.",
                    size=total / 1024 / 1024,
                    limit=limit,
                )
            )

    @api.model
    def _with_author_bcc(self, account, bcc):
        """``bcc`` with the writing user added when the account copies the
        author on what he sends (*Copy to the Author*)."""
        bcc = bcc or ""
        author = self.env.user.email
        if not account.sudo().bcc_author or not author:
            return bcc
        taken = {normalize(address) for address in split_addresses(bcc)}
        if normalize(author) in taken or normalize(author) == normalize(account.email):
            return bcc
        return f"{bcc}, {author}" if bcc.strip() else author

    def action_send_drafts(self):
        """Drafts chosen in a list (a mass mailing saved as drafts): queued
        for the send cron, each checked as the composer checks it; their
        author only."""
        drafts = self.filtered(lambda m: m.state == "draft")
        if not drafts:
            raise UserError(self.env._("Select drafts to send."))
        drafts.check_access("write")
        others = drafts.filtered(lambda m: m.author_user_id != self.env.user)
        if others:
            raise AccessError(
                self.env._(
                    "Only the author of an unsent mail may change it (%(fields)s).",
                    fields=self._field_labels({"state"}),
                )
            )
        for account in drafts.account_id:
            account._check_may_send()
        labels = {
            name: self._fields[name]._description_string(self.env)
            for name in ("subject", "email_to", "email_cc", "email_bcc")
        }
        for draft in drafts:
            if not (draft.email_to or draft.email_cc or draft.email_bcc):
                raise UserError(
                    self.env._(
                        "Add at least one recipient: %(subjects)s",
                        subjects=draft.subject or "?",
                    )
                )
            self._check_outgoing_fields(
                (draft.subject, labels["subject"]),
                [(draft[n], labels[n]) for n in ("email_to", "email_cc", "email_bcc")],
            )
            self._check_attachment_weight(draft.attachment_ids - draft._original_eml())
        for draft in drafts.filtered(lambda m: not m.mass_mailing):
            # what leaves copies its author, as from the composer
            bcc = self._with_author_bcc(draft.account_id, draft.email_bcc)
            if bcc != (draft.email_bcc or ""):
                draft.email_bcc = bcc
        drafts.write({"state": "outgoing"})
        drafts._queue_for_sending()
        return self._done_notification(
            self.env._(
                "Queued: %(count)s; Mail > Outbox shows them until they are sent.",
                count=len(drafts),
            )
        )

    def _done_notification(self, message):
        """What an action on mails says when done; the list or form it was
        run from reloads (the mails moved, changed state or left it)."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": "success",
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_edit_draft(self):
        self.ensure_one()
        if self.state not in ("draft", "error"):
            raise UserError(self.env._("Only drafts and failed mails can be edited."))
        return self.env["crm.mail.compose"]._action_open(
            {"default_draft_id": self.id}, self.env._("Edit Mail")
        )

    def _open_composer(self, mode):
        if len(self) != 1:
            raise UserError(self.env._("Select one mail to answer or forward."))
        self.check_access("read")
        if self.state == "quarantined":
            raise UserError(self.env._("A quarantined mail cannot be answered."))
        titles = {
            "reply": self.env._("Reply"),
            "reply_all": self.env._("Reply All"),
            "forward": self.env._("Forward"),
        }
        return self.env["crm.mail.compose"]._action_open(
            {"default_parent_id": self.id, "crm_mail_compose_mode": mode},
            titles[mode],
        )

    def _copy_attachments_for_composer(self):
        """Copies of this mail's attachments for a forward (the stored
        original .eml stays home)."""
        self.ensure_one()
        attachments = self.attachment_ids.filtered(
            lambda a: not (a.name == "original.eml" and a.mimetype == "message/rfc822")
        )
        return self.env["ir.attachment"].browse(
            [
                a.copy({"res_model": "crm.mail.compose", "res_id": 0}).id
                for a in attachments
            ]
        )
