import time
import uuid

from odoo import fields, models
from odoo.exceptions import AccessError, UserError

from ..mail_engine import compose, sessions, smtp_session
from ..mail_engine.exceptions import MailEngineError
from ..mail_engine.imap_session import ImapSession

#: seconds the test message is waited for in the Inbox
TEST_MESSAGE_WAIT = 30


class CrmMailAccount(models.Model):
    """Connection settings handed to the engine, and the connection check."""

    _inherit = "crm.mail.account"

    # ------------------------------------------------------------
    # ENGINE CONFIGURATION
    # ------------------------------------------------------------

    def _incoming_config(self):
        """Settings of the incoming server for the engine (reads the secret)."""
        self.ensure_one()
        secret = self.sudo()
        return sessions.ServerConfig(
            host=self.incoming_host or "",
            port=self.incoming_port,
            security=self.incoming_security,
            login=self.login or self.email,
            timeout=self.timeout or 30,
            verify=self.verify_certificate,
            ca_pem=self.ca_certificate or None,
            **self._credentials(secret.password),
        )

    def _credentials(self, password):
        """``password`` and ``auth`` of the engine's config: the stored
        password, or a live OAuth2 access token (renewed if needed).

        :raise MailEngineError: the sign-in cannot give a token
        """
        if self.auth_method == "password":
            return {"password": password or ""}
        return {"password": self._oauth_access_token(), "auth": self._oauth_mechanism()}

    def _smtp_config(self):
        """Settings of the outgoing server for the engine (reads the secret)."""
        self.ensure_one()
        secret = self.sudo()
        # one sign-in covers both servers: the SMTP login is the mailbox's
        same = self.smtp_same_credentials or self.auth_method != "password"
        return sessions.ServerConfig(
            host=self.smtp_host or "",
            port=self.smtp_port,
            security=self.smtp_security,
            login=(self.login or self.email) if same else (self.smtp_login or ""),
            timeout=self.timeout or 30,
            verify=self.verify_certificate,
            ca_pem=self.ca_certificate or None,
            **self._credentials(secret.password if same else secret.smtp_password),
        )

    def _engine_error_message(self, error, server=None):
        """Turn an engine error into a translated sentence for the user.

        :param MailEngineError error: the error raised by the engine
        :param str server: "host:port" the error concerns
        :return: the translated message (with the technical detail)
        """
        server = server or f"{self.incoming_host}:{self.incoming_port}"
        messages = {
            "auth": self.env._(
                "The server %(server)s refused the login or password. Check them; "
                "Gmail, Yandex, Mail.ru and iCloud need an app password.",
                server=server,
            )
            if self.auth_method == "password"
            else self.env._(
                "The server %(server)s refused the sign-in of %(login)s. Check the "
                "login (the mailbox address), then press Sign in with %(provider)s "
                "again.",
                server=server,
                login=self.login or self.email,
                provider=self.oauth_provider_name,
            ),
            "certificate": self.env._(
                "The certificate of %(server)s is not trusted. Paste the server's CA "
                "certificate into the account, or turn off certificate verification "
                "if you trust this network.",
                server=server,
            ),
            "host_not_found": self.env._(
                "Host not found: %(server)s. Check the server name.", server=server
            ),
            "connection_refused": self.env._(
                "%(server)s refused the connection. Check the port and the security.",
                server=server,
            ),
            "timeout": self.env._(
                "No answer from %(server)s within %(timeout)s seconds.",
                server=server,
                timeout=self.timeout,
            ),
            "tls_not_offered": self.env._(
                "%(server)s does not offer STARTTLS, and plaintext logins are "
                "refused. Use SSL/TLS.",
                server=server,
            ),
            "oauth_not_connected": self.env._(
                "%(account)s is not signed in yet: open the account and press "
                "Sign in with %(provider)s.",
                account=self.name,
                provider=self.oauth_provider_name,
            ),
            "oauth_revoked": self.env._(
                "%(provider)s no longer accepts the sign-in of %(account)s (the "
                "access was revoked or has expired). Open the account and press "
                "Sign in with %(provider)s again.",
                account=self.name,
                provider=self.oauth_provider_name,
            ),
            "mechanism_not_offered": self.env._(
                "%(server)s does not offer this sign-in (OAuth2). Check the server "
                "or use a password.",
                server=server,
            ),
            "tls": self.env._(
                "The secure connection to %(server)s failed.", server=server
            ),
            "network": self.env._("Network error with %(server)s.", server=server),
            "protocol": self.env._(
                "%(server)s gave an unexpected answer.", server=server
            ),
            "config": self.env._(
                "The settings of %(server)s are incomplete or not secure.",
                server=server,
            ),
        }
        message = messages.get(error.code) or self.env._(
            "Mail error with %(server)s.", server=server
        )
        detail = error.detail or str(error)
        return f"{message}\n({detail})" if detail and detail != error.code else message

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_test_connection(self):
        """Log in to the incoming and outgoing servers; list IMAP folders."""
        self.ensure_one()
        receiving, sending = self.use_for_receiving, self.use_for_sending
        if receiving and not self.incoming_host:
            raise UserError(self.env._("Set the incoming server first."))
        if not receiving and not (sending and self.smtp_host):
            raise UserError(self.env._("Set the outgoing server first."))
        # a failure is shown AND kept on the account (a raised UserError would
        # roll the account's error state back)
        if receiving:
            try:
                folders = sessions.check_incoming(
                    self._incoming_config(), self.protocol
                )
            except MailEngineError as error:
                return self._connection_failed(self._engine_error_message(error))
            if self.protocol == "imap":
                self.env["crm.mail.folder"]._sync_from_server(self, folders)
        if sending and self.smtp_host:
            smtp_server = f"{self.smtp_host}:{self.smtp_port}"
            try:
                smtp_session.check_smtp(self._smtp_config())
            except MailEngineError as error:
                return self._connection_failed(
                    self._engine_error_message(error, smtp_server)
                )
        self.sudo().write({"state": "ok", "last_error": False, "failure_count": 0})
        return self._notification(
            self.env._("Connection works"),
            self.env._("%(account)s: the servers accept the login.", account=self.name),
        )

    def action_test_message(self):
        """Send a test message to the account itself and wait for it in the
        Inbox (1C's check on save): says which step works and which fails,
        then deletes the test message from the server."""
        self.ensure_one()
        if not self.can_edit:
            raise AccessError(
                self.env._(
                    "Only the owner of %s or a mail administrator tests it.", self.name
                )
            )
        if not (self.smtp_host and self.incoming_host and self.protocol == "imap"):
            raise UserError(
                self.env._(
                    "The test message needs an outgoing server and an IMAP "
                    "incoming server."
                )
            )
        steps, ok = self._test_message_steps()
        lines = "\n".join(f"{'✔' if good else '✘'} {text}" for good, text in steps)
        return self._notification(
            self.env._("Test message"),
            lines,
            "success" if ok else "danger",
            sticky=not ok,
        )

    def _test_message_steps(self):
        """[(ok, text)] of the round trip, and whether it all worked."""
        token = f"{uuid.uuid4().hex}@crm-mail-test"
        raw = compose.test_message(self.email, token, self.env._("Test message"))
        steps = []
        try:
            smtp = smtp_session.open_smtp(self._smtp_config())
        except MailEngineError as error:
            steps.append(
                (False, self.env._("SMTP login: %s", self._engine_error_message(error)))
            )
            return steps, False
        steps.append((True, self.env._("SMTP login")))
        server = f"{self.smtp_host}:{self.smtp_port}"
        try:
            smtp_session.send_raw(smtp, self.email, [self.email], raw, server)
            smtp.quit()
        except MailEngineError as error:
            steps.append(
                (
                    False,
                    self.env._(
                        "Sending: %s", self._engine_error_message(error, server)
                    ),
                )
            )
            return steps, False
        finally:
            smtp.close()
        steps.append((True, self.env._("Sending: the server took the message")))
        started = time.monotonic()
        try:
            with ImapSession.open(self._incoming_config()) as session:
                while True:
                    found = session.search("INBOX", f'HEADER Message-ID "<{token}>"')
                    waited = time.monotonic() - started
                    if found or waited > TEST_MESSAGE_WAIT:
                        break
                    time.sleep(1)
                if found and "UIDPLUS" in session.capabilities:
                    # ours, not the customers': it leaves the mailbox again
                    # (without UIDPLUS an EXPUNGE could take other clients'
                    # deleted mail with it: then it is only marked read)
                    session.delete("INBOX", found)
                elif found:
                    session.mark_seen("INBOX", found)
        except MailEngineError as error:
            steps.append(
                (False, self.env._("Receiving: %s", self._engine_error_message(error)))
            )
            return steps, False
        if not found:
            steps.append(
                (
                    False,
                    self.env._(
                        "Receiving: not in the Inbox after %s seconds (in Spam? "
                        "forwarded elsewhere?)",
                        TEST_MESSAGE_WAIT,
                    ),
                )
            )
            return steps, False
        steps.append(
            (True, self.env._("Receiving: in the Inbox after %s s", round(waited, 1)))
        )
        return steps, True

    def _connection_failed(self, message):
        self.sudo().write(
            {
                "state": "error",
                "last_error": message,
                "last_check": fields.Datetime.now(),
            }
        )
        return self._notification(
            self.env._("Connection failed"), message, "danger", sticky=True
        )

    def _notification(self, title, message, kind="success", sticky=False):
        """A toast, then the form reloads to show the account's new state."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "title": title,
                "message": message,
                "sticky": sticky,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
