import logging
import smtplib
from collections import defaultdict
from datetime import timedelta
from email.utils import make_msgid

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..mail_engine import compose, smtp_session
from ..mail_engine.addresses import domain_of, split_addresses
from ..mail_engine.exceptions import MailEngineError
from ..mail_engine.imap_session import ImapSession

_logger = logging.getLogger(__name__)

#: a mail left in 'sending' longer than this was interrupted (crash, kill)
SENDING_STALE_MINUTES = 10
#: mails the send cron handles per run before it reports its progress
SEND_BATCH = 50


class CrmMailMessage(models.Model):
    """Outgoing mail: build with Odoo's ir.mail_server, send over verified TLS."""

    _inherit = "crm.mail.message"

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
        """Send a failed mail again (the same Message-ID: no double thread)."""
        failed = self.filtered(
            lambda m: m.state == "error" and m.direction == "outgoing"
        )
        if not failed:
            raise UserError(
                self.env._("Only outgoing mails that failed can be retried.")
            )
        # the author queues it again (his rights checked); the server clears
        # the reason of the last failure
        failed.write({"state": "outgoing"})
        failed.sudo().error = False
        failed._send_now()
        if len(failed) == 1:
            return failed._sent_notification()
        return True

    def action_cancel_sending(self):
        """Take queued or failed mails back to drafts."""
        mails = self.filtered(lambda m: m.state in ("outgoing", "error"))
        mails.write({"state": "draft"})
        return True

    def _sent_notification(self):
        self.ensure_one()
        if self.state == "sent":
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "type": "success",
                    "title": self.env._("Mail sent"),
                    "message": self.subject or "",
                    "next": {"type": "ir.actions.act_window_close"},
                },
            }
        # the mail stays, with the reason and a Retry button
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    # ------------------------------------------------------------
    # SENDING
    # ------------------------------------------------------------

    def _auto_commit_sending(self):
        return self.env["crm.mail.account"]._auto_commit()

    def _send_now(self, auto_commit=False, author_lang=False):
        """Send these queued mails, one SMTP session per account.

        Failures are kept on each mail (``state='error'`` and the reason);
        nothing raises for a refused login, recipient or a timeout.

        :param bool auto_commit: commit around every mail (cron only): a
            mail handed to the server must never be sent twice after a crash
        :param bool author_lang: write each failure in the language of the
            mail's author (cron only: it has no user language)
        """
        queued = self.filtered(
            lambda m: m.state == "outgoing" and m.direction == "outgoing"
        )

        def in_lang(mails):
            return mails._by_author_lang() if author_lang else [mails]

        for account in queued.account_id:
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
                continue
            try:
                smtp = smtp_session.open_smtp(account._smtp_config())
            except MailEngineError as error:
                for group in in_lang(mails):
                    group._send_failed(
                        account.with_env(group.env)._engine_error_message(
                            error, server
                        ),
                        auto_commit,
                    )
                continue
            try:
                for group in in_lang(mails):
                    for mail in group:
                        mail._send_one(smtp, server, auto_commit)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()

    def _send_failed(self, reason, auto_commit):
        self.sudo().write({"state": "error", "error": reason})
        if auto_commit:
            # the failure is what the user must see, whatever follows
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _send_one(self, smtp, server, auto_commit):
        self.ensure_one()
        mail = self.sudo()
        mail.write({"state": "sending"})
        if auto_commit:
            # 'sending' is on disk before the server gets the mail: after a
            # crash it tells a human to check, and is never resent blindly
            self.env.cr.commit()  # pylint: disable=invalid-commit
        try:
            message = mail._build_email()
        except UserError as error:
            mail._send_failed(str(error), auto_commit)
            return
        try:
            mail.env["ir.mail_server"].send_email(
                message, smtp_server=server, smtp_session=smtp
            )
        except MailDeliveryException as error:
            reason = error.args[1] if len(error.args) > 1 else str(error)
            mail._send_failed(reason, auto_commit)
            return
        except smtplib.SMTPServerDisconnected as error:
            mail._send_failed(
                self.env._(
                    "%(server)s closed the connection: %(error)s",
                    server=server,
                    error=error,
                ),
                auto_commit,
            )
            return
        mail.write({"state": "sent", "date": fields.Datetime.now(), "error": False})
        if auto_commit:
            # sent is sent: never send it again
            self.env.cr.commit()  # pylint: disable=invalid-commit
        if mail.account_id.upload_sent:
            mail._upload_to_sent(message)

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
        for label, value in (
            (self.env._("Subject"), self.subject),
            (self.env._("To"), self.email_to),
            (self.env._("Cc"), self.email_cc),
            (self.env._("Bcc"), self.email_bcc),
        ):
            try:
                compose.check_header_value(value, label)
            except compose.HeaderInjectionError as error:
                raise UserError(
                    self.env._("%(field)s may not contain line breaks.", field=label)
                ) from error
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

    def _upload_to_sent(self, message):
        """Append the sent mail to the server's Sent folder (IMAP APPEND).

        A failure here does not unsend the mail: it is noted on the mail.
        """
        account = self.account_id
        if account.protocol != "imap" or not account.incoming_host:
            return
        if self.email_bcc and not message["Bcc"]:
            # the sender's own copy keeps the Bcc, as mail clients do
            message["Bcc"] = self.email_bcc
        try:
            with ImapSession.open(account._incoming_config()) as session:
                folder = account._sent_folder_name(session)
                session.append(folder, message.as_bytes())
        except MailEngineError as error:
            _logger.info("Sent mail %s not copied to Sent: %s", self.id, error)
            # a note of the system on a mail that is sent, hence frozen
            self.sudo().write(
                {
                    "error": self.env._(
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
        """Send queued mail (mass mail) in batches.

        WARNING: meant for cron usage only - commits around every mail.
        A mail found in 'sending' was interrupted by a crash: it may or may
        not have reached the server, so it goes to 'error' for a human to
        check, never back to the queue.
        """
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
        queue = [("state", "=", "outgoing"), ("direction", "=", "outgoing")]
        queued = Message.search(queue, limit=batch_size)
        queued._send_now(auto_commit=auto_commit, author_lang=True)
        remaining = Message.search_count(queue)
        self.env["ir.cron"]._notify_progress(done=len(queued), remaining=remaining)

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
