from odoo import api, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import is_html_empty

from ..mail_engine.addresses import format_address_list

SENT = "\\Sent"


class CrmMailAccount(models.Model):
    """Which accounts a user sends from, and how the account signs."""

    _inherit = "crm.mail.account"

    @api.model
    def _sendable_domain(self, user=None):
        """Accounts ``user`` may send from: his own, or with the Send right."""
        user = user or self.env.user
        domain = [
            ("smtp_host", "!=", False),
            ("active", "=", True),
            ("use_for_sending", "=", True),
        ]
        if user.has_group("crm_mail_client.group_mail_manager"):
            return domain
        return expression.AND(
            [
                domain,
                [
                    "|",
                    ("user_id", "=", user.id),
                    (
                        "access_ids",
                        "any",
                        [("member_ids", "in", user.id), ("out_send", "=", True)],
                    ),
                ],
            ]
        )

    @api.model
    def _default_sender(self, user=None):
        """The user's default sending account: the one marked "Default
        Sender" for him, else his own mailbox, else the first he may use."""
        user = user or self.env.user
        sendable = self.search(self._sendable_domain(user), order="id")
        marked = sendable.filtered(
            lambda a: a.access_ids.filtered(
                lambda line: line.user_id == user and line.out_default
            )
        )
        own = sendable.filtered(lambda a: a.user_id == user)
        return (marked or own or sendable)[:1]

    def _may_send(self, user=None):
        self.ensure_one()
        return bool(
            self.search_count(self._sendable_domain(user) + [("id", "=", self.id)])
        )

    def _has_send_right(self, user=None):
        """Whether ``user`` may send from this account (owner, *Send* or
        administrator), whatever its SMTP settings are today."""
        self.ensure_one()
        user = user or self.env.user
        account = self.sudo()
        return (
            user.has_group("crm_mail_client.group_mail_manager")
            or account.user_id == user
            or bool(
                account.access_ids.filtered(
                    lambda line: user in line.member_ids and line.out_send
                )
            )
        )

    def _check_send_right(self):
        """Raise unless the current user has the Send right on this account."""
        self.ensure_one()
        if not self._has_send_right():
            raise AccessError(
                self.env._(
                    "You may not send mail from %(account)s.",
                    account=self.sudo().name,
                )
            )

    def _check_may_send(self):
        """Raise unless the current user may send from this account."""
        self.ensure_one()
        if not self.sudo().use_for_sending:
            raise UserError(
                self.env._(
                    "%(account)s is not used for sending: choose another "
                    "account in From.",
                    account=self.sudo().name,
                )
            )
        if not self.sudo()._may_send(self.env.user):
            raise AccessError(
                self.env._(
                    "You may not send mail from %(account)s.",
                    account=self.sudo().name,
                )
            )

    def _signature_for(self, user):
        """The signature a mail written by ``user`` from this account gets:
        the account's, after the writer's own when the account says so.

        :return: HTML (sanitized by both fields), ``""`` without any (or
            without an account)
        """
        if not self:
            return ""
        self.ensure_one()
        account = self.sudo()
        parts = []
        if account.signature_with_user and not is_html_empty(user.signature):
            parts.append(str(user.signature))
        if not is_html_empty(account.signature):
            parts.append(str(account.signature))
        return "".join(parts)

    def _from_header(self):
        """``Name <address>`` for the From header."""
        self.ensure_one()
        return format_address_list([(self.sender_name or self.name, self.email)])

    def _sent_folder_name(self, session):
        """The server's Sent folder: special-use ``\\Sent`` (the engine guesses
        it from well-known names when the server sets no flag), else "Sent"."""
        for folder in session.list_folders():
            if folder.selectable and folder.special_use == SENT:
                return folder.name
        return "Sent"
