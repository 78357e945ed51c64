"""OAuth2 sign-in of a mailbox: Google and Microsoft through Odoo's own
``google_gmail`` / ``microsoft_outlook`` mixins (their consent URLs, token
requests and Settings), any other provider (Yandex 360, Mail.ru...) through
``crm.mail.oauth.provider``. The engine logs in with SASL XOAUTH2 or
OAUTHBEARER; no password is stored.

Where Odoo's mixins fall short, this extends them: the owner of a personal
mailbox signs in himself (Odoo's flows are for administrators only), the
consent is bound to the user who started it, tokens are refreshed ahead of
their expiry and a refusal becomes the account's error, not a password prompt.
"""

import json
import logging
import time

import requests
from werkzeug.urls import url_encode, url_join

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import consteq
from odoo.tools.misc import hmac as odoo_hmac

from ..mail_engine.addresses import domain_of
from ..mail_engine.exceptions import AuthError, ConnectError
from ..mail_engine.presets import preset_for
from .crm_mail_account import CONNECTION_FIELDS

_logger = logging.getLogger(__name__)

AUTH_METHODS = [
    ("password", "Password"),
    ("gmail", "Sign in with Google"),
    ("outlook", "Sign in with Microsoft"),
    ("oauth2", "Sign in with another provider (OAuth2)"),
]
#: refresh, access token and its expiry (a UNIX time) of each method
TOKEN_FIELDS = {
    "gmail": (
        "google_gmail_refresh_token",
        "google_gmail_access_token",
        "google_gmail_access_token_expiration",
    ),
    "outlook": (
        "microsoft_outlook_refresh_token",
        "microsoft_outlook_access_token",
        "microsoft_outlook_access_token_expiration",
    ),
    "oauth2": (
        "oauth_refresh_token",
        "oauth_access_token",
        "oauth_access_token_expiration",
    ),
}
ALL_TOKEN_FIELDS = tuple(name for names in TOKEN_FIELDS.values() for name in names)
#: what a non-administrator may never give to create (write checks groups)
TOKEN_WRITE_GUARD = (*ALL_TOKEN_FIELDS, "google_gmail_authorization_code")
#: a consent link is valid this many seconds
CONSENT_SECONDS = 3600
#: an access token is renewed this many seconds before it expires, so a
#: fetch or a send never starts with a token about to die
REFRESH_AHEAD = 300
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
CALLBACKS = {
    "gmail": "/google_gmail/confirm",
    "outlook": "/microsoft_outlook/confirm",
    "oauth2": "/crm_mail_client/oauth/confirm",
}
TOKEN_GROUP = "base.group_system"
#: the names of Odoo's own sign-ins (the others are provider records)
ODOO_SIGN_INS = {"gmail": "Google", "outlook": "Microsoft"}


class CrmMailAccount(models.Model):
    _name = "crm.mail.account"
    _inherit = ["crm.mail.account", "google.gmail.mixin", "microsoft.outlook.mixin"]

    # one consent covers the three protocols a mailbox uses
    _OUTLOOK_SCOPE = (
        "https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/POP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send"
    )

    auth_method = fields.Selection(
        AUTH_METHODS,
        string="Sign-in",
        required=True,
        default="password",
        help="Password: the mailbox password or an app password. Sign in with "
        "Google, Microsoft or another provider: you consent at the provider, "
        "no password is stored here.",
    )
    oauth_provider_id = fields.Many2one(
        "crm.mail.oauth.provider", string="Sign-in Provider", ondelete="restrict"
    )
    oauth_refresh_token = fields.Char(groups=TOKEN_GROUP, copy=False)
    oauth_access_token = fields.Char(groups=TOKEN_GROUP, copy=False)
    oauth_access_token_expiration = fields.Integer(groups=TOKEN_GROUP, copy=False)
    oauth_connected = fields.Boolean(
        compute="_compute_oauth_connected",
        string="Signed In",
        help="The provider gave a refresh token: the mailbox works without a "
        "password until the consent is revoked.",
    )
    oauth_provider_name = fields.Char(compute="_compute_oauth_connected")
    oauth_configured = fields.Boolean(compute="_compute_oauth_connected")

    @api.depends("auth_method", "oauth_provider_id", *ALL_TOKEN_FIELDS)
    @api.depends_context("uid")
    def _compute_oauth_connected(self):
        for account, secret in zip(self, self.sudo(), strict=True):
            method = account.auth_method
            refresh = TOKEN_FIELDS[method][0] if method in TOKEN_FIELDS else None
            account.oauth_connected = bool(refresh and secret[refresh])
            account.oauth_provider_name = _sign_in_name(
                method, account.oauth_provider_id
            )
            account.oauth_configured = account._oauth_is_configured()

    def _oauth_is_configured(self):
        """Whether an administrator set up the client of this sign-in."""
        return self._sign_in_configured(self.auth_method, self.oauth_provider_id)

    @api.model
    def _sign_in_configured(self, method, provider):
        if method in ODOO_SIGN_INS:
            # Odoo's own Settings of google_gmail / microsoft_outlook
            prefix = "google_gmail" if method == "gmail" else "microsoft_outlook"
            params = self.env["ir.config_parameter"].sudo()
            return bool(
                params.get_param(f"{prefix}_client_id")
                and params.get_param(f"{prefix}_client_secret")
            )
        return method == "oauth2" and bool(provider.is_configured)

    # ------------------------------------------------------------
    # PRESETS
    # ------------------------------------------------------------

    def _oauth_offer(self, email):
        """``(auth_method, provider)`` to recommend for an address, or None."""
        preset = preset_for(email)
        kind = preset.oauth if preset else ""
        if kind in ("gmail", "outlook"):
            return kind, self.env["crm.mail.oauth.provider"]
        provider = self.env["crm.mail.oauth.provider"]._for_domain(domain_of(email))
        if provider:
            return "oauth2", provider
        return None

    @api.onchange("email")
    def _onchange_email_oauth(self):
        """Sign-in is the recommended way where the provider offers it and an
        administrator has set it up; a password stays the alternative."""
        offer = self.email and self._oauth_offer(self.email)
        if not offer or self.auth_method != "password":
            return
        method, provider = offer
        if self._sign_in_configured(method, provider):
            self.auth_method = method
            self.oauth_provider_id = provider
            if provider.imap_host and self.protocol == "imap":
                self.incoming_host = provider.imap_host
            if provider.smtp_host:
                self.smtp_host = provider.smtp_host

    @api.depends("email", "incoming_host", "auth_method")
    def _compute_provider_note(self):
        res = super()._compute_provider_note()
        for account in self:
            offer = account.email and account._oauth_offer(account.email)
            if not offer or account.auth_method != "password":
                continue
            method, provider = offer
            name = _sign_in_name(method, provider)
            if account._sign_in_configured(method, provider):
                account.provider_note = self.env._(
                    "Recommended: choose Sign in with %(provider)s: no password is "
                    "stored. The alternative is an app password.",
                    provider=name,
                )
            elif getattr(preset_for(account.email), "note", "") == "oauth":
                account.provider_note = self.env._(
                    "%(provider)s refuses password logins to IMAP and POP3: an "
                    "administrator sets up Sign in with %(provider)s (OAuth) in "
                    "Settings, then you sign in here.",
                    provider=name,
                )
            else:
                account.provider_note = self.env._(
                    "%(provider)s offers sign-in without a password once an "
                    "administrator sets it up (Mail > Configuration > Sign-in "
                    "Providers, or Settings for Google and Microsoft). Until then, "
                    "use an app password.",
                    provider=name,
                )
        return res

    # ------------------------------------------------------------
    # TOKENS
    # ------------------------------------------------------------

    def _oauth_mechanism(self):
        if self.auth_method == "oauth2":
            return self.oauth_provider_id.mechanism or "xoauth2"
        return "xoauth2"

    def _oauth_access_token(self, commit=False):
        """A live access token, refreshed first when it expires within
        ``REFRESH_AHEAD`` seconds.

        :raise AuthError: not signed in, or the provider refused the refresh
            (revoked or expired consent): the account goes to error and its
            owner is alerted by the fetch, as for a refused password
        :raise ConnectError: the provider could not be reached (try later)
        """
        self.ensure_one()
        secret = self.sudo()
        refresh_field, access_field, expiry_field = TOKEN_FIELDS[self.auth_method]
        if secret[access_field] and secret[expiry_field] > time.time() + REFRESH_AHEAD:
            return secret[access_field]
        if not secret[refresh_field]:
            # no text of its own: the message says it all, nothing technical
            raise AuthError(code="oauth_not_connected")
        try:
            if self.auth_method == "gmail":
                access, expiry = secret._fetch_gmail_access_token(secret[refresh_field])
                values = {access_field: access, expiry_field: expiry}
            elif self.auth_method == "outlook":
                refresh, access, expiry = secret._fetch_outlook_access_token(
                    secret[refresh_field]
                )
                values = {
                    refresh_field: refresh or secret[refresh_field],
                    access_field: access,
                    expiry_field: expiry,
                }
            else:
                answer = secret._oauth2_token_request(
                    "refresh_token", refresh_token=secret[refresh_field]
                )
                values = {
                    refresh_field: answer.get("refresh_token") or secret[refresh_field],
                    access_field: answer["access_token"],
                    expiry_field: _expiry(answer),
                }
        except requests.RequestException as exc:
            raise ConnectError(
                "the sign-in provider did not answer",
                code="network",
                detail=type(exc).__name__,
            ) from exc
        except (UserError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise AuthError(
                "the sign-in provider refused to renew the access",
                code="oauth_revoked",
                detail=str(exc),
            ) from exc
        secret.write(values)
        if commit:
            # the fetch rolls back what a failure leaves: a renewed (rotated)
            # refresh token must not go with it
            self.env.cr.commit()  # pylint: disable=invalid-commit
        _logger.info(
            "Mail account %s: access token renewed, valid %s min.",
            self.id,
            (values[expiry_field] - int(time.time())) // 60,
        )
        return values[access_field]

    def _oauth2_token_request(self, grant_type, **values):
        """POST to the provider's token endpoint (RFC 6749 4.1.3 / 6).

        :raise UserError: the provider refused (its error in the text)
        :raise requests.RequestException: it could not be reached
        """
        provider = self.oauth_provider_id.sudo()
        if not provider:
            raise UserError(self.env._("Choose the sign-in provider of %s.", self.name))
        response = requests.post(
            provider.token_url,
            data={
                "client_id": provider.client_id,
                "client_secret": provider.client_secret,
                "grant_type": grant_type,
                "redirect_uri": self._oauth_redirect_uri(),
                **values,
            },
            timeout=10,
        )
        if not response.ok:
            raise UserError(
                self.env._(
                    "%(provider)s refused: %(error)s",
                    provider=provider.name,
                    error=_error_of(response),
                )
            )
        return response.json()

    def _fetch_gmail_token(self, grant_type, **values):
        """Odoo's Google token request, at another endpoint when the system
        parameter ``crm_mail_client.google_token_endpoint`` names one (the
        local provider of the tests and the demo)."""
        endpoint = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("crm_mail_client.google_token_endpoint")
        )
        if not endpoint:
            return super()._fetch_gmail_token(grant_type, **values)
        params = self.env["ir.config_parameter"].sudo()
        response = requests.post(
            endpoint,
            data={
                "client_id": params.get_param("google_gmail_client_id"),
                "client_secret": params.get_param("google_gmail_client_secret"),
                "grant_type": grant_type,
                "redirect_uri": self._oauth_redirect_uri("gmail"),
                **values,
            },
            timeout=5,
        )
        if not response.ok:
            raise UserError(
                self.env._("An error occurred when fetching the access token.")
            )
        return response.json()

    # ------------------------------------------------------------
    # CONSENT
    # ------------------------------------------------------------

    def _oauth_redirect_uri(self, method=None):
        return url_join(self.get_base_url(), CALLBACKS[method or self.auth_method])

    def _oauth_csrf(self, method, issued=None):
        """The consent's state token: bound to this account, this sign-in
        method and the user who started it (another user cannot complete
        it), and valid ``CONSENT_SECONDS`` from ``issued`` (now)."""
        self.ensure_one()
        issued = int(issued or time.time())
        signature = odoo_hmac(
            env=self.env(su=True),
            scope="crm_mail_client_oauth",
            message=(self._name, self.id, method, self.env.uid, issued),
        )
        return f"{issued}.{signature}"

    def _oauth_check_consent(self, method, token):
        """Whether ``token`` is this user's live consent of this account.

        :raise AccessError: someone else's mailbox, a wrong or old token
        """
        self.ensure_one()
        self._check_secret_access()
        issued, _dot, _signature = (token or "").partition(".")
        fresh = issued.isdigit() and 0 <= time.time() - int(issued) <= CONSENT_SECONDS
        if not fresh or not consteq(token, self._oauth_csrf(method, issued)):
            raise AccessError(self.env._("This sign-in link is not yours or expired."))

    def _get_gmail_csrf_token(self):
        return self._oauth_csrf("gmail")

    def _get_outlook_csrf_token(self):
        return self._oauth_csrf("outlook")

    def _oauth_state(self):
        return json.dumps(
            {
                "model": self._name,
                "id": self.id,
                "csrf_token": self._oauth_csrf(self.auth_method),
            }
        )

    def action_oauth_sign_in(self):
        """Open the provider's consent page; it returns to the account form."""
        self.ensure_one()
        self._check_secret_access()
        if self.auth_method not in TOKEN_FIELDS:
            raise UserError(self.env._("Choose a sign-in method first."))
        if not self._oauth_is_configured():
            raise UserError(
                self.env._(
                    "Sign-in with %s is not set up yet: an administrator enters "
                    "its client ID and secret first.",
                    self.oauth_provider_name or self.env._("this provider"),
                )
            )
        secret = self.sudo()
        if self.auth_method == "gmail":
            url = secret.google_gmail_uri
        elif self.auth_method == "outlook":
            url = secret.microsoft_outlook_uri
        else:
            provider = self.oauth_provider_id.sudo()
            query = {
                "client_id": provider.client_id,
                "redirect_uri": self._oauth_redirect_uri(),
                "response_type": "code",
                "state": self._oauth_state(),
            }
            if provider.scope:
                query["scope"] = provider.scope
            separator = "&" if "?" in provider.authorize_url else "?"
            url = provider.authorize_url + separator + url_encode(query)
        # the provider proposes the right account at once
        url += "&" + url_encode({"login_hint": self.login or self.email})
        return {"type": "ir.actions.act_url", "url": url, "target": "self"}

    def _oauth_confirm(self, method, csrf_token, code):
        """The provider sent the user back with ``code``: store the tokens.

        Runs as the user who consented; the account must be his personal
        mailbox, or he a mail administrator.

        :raise AccessError: someone else's mailbox, a wrong or old state
        :raise UserError: the provider refused the code
        """
        self._oauth_check_consent(method, csrf_token)
        secret = self.sudo().with_context(active_test=False)
        refresh_field, access_field, expiry_field = TOKEN_FIELDS[method]
        try:
            if method == "gmail":
                refresh, access, expiry = secret._fetch_gmail_refresh_token(code)
            elif method == "outlook":
                refresh, access, expiry = secret._fetch_outlook_refresh_token(code)
            else:
                answer = secret._oauth2_token_request("authorization_code", code=code)
                refresh, access = answer.get("refresh_token"), answer["access_token"]
                expiry = _expiry(answer)
        except requests.RequestException as exc:
            raise UserError(
                self.env._(
                    "The sign-in provider did not answer (%s).", type(exc).__name__
                )
            ) from exc
        except (KeyError, ValueError) as exc:
            raise UserError(self.env._("The sign-in provider gave no token.")) from exc
        if not refresh:
            raise UserError(
                self.env._(
                    "The provider gave no refresh token: the mailbox would stop "
                    "working within the hour. Remove this application's access in "
                    "your account at the provider, then sign in again."
                )
            )
        secret.write(
            {
                "auth_method": method,
                refresh_field: refresh,
                access_field: access,
                expiry_field: expiry,
                "state": "draft" if self.state == "error" else self.state,
                "last_error": False,
                "failure_count": 0,
            }
        )

    def action_oauth_disconnect(self):
        """Forget the tokens; revoke them at the provider where it allows."""
        self.ensure_one()
        self._check_secret_access()
        secret = self.sudo()
        if self.auth_method in TOKEN_FIELDS:
            refresh = secret[TOKEN_FIELDS[self.auth_method][0]]
            url = None
            if self.auth_method == "gmail":
                url = (
                    self.env["ir.config_parameter"]
                    .sudo()
                    .get_param("crm_mail_client.google_revoke_endpoint")
                    or GOOGLE_REVOKE_URL
                )
            elif self.auth_method == "oauth2":
                url = self.oauth_provider_id.sudo().revoke_url
            if refresh and url:
                try:
                    requests.post(url, data={"token": refresh}, timeout=10)
                except requests.RequestException as exc:
                    _logger.warning(
                        "Mail account %s: revoking the token failed (%s); it is "
                        "forgotten here anyway.",
                        self.id,
                        type(exc).__name__,
                    )
        secret.write(dict.fromkeys(ALL_TOKEN_FIELDS, False))
        return True

    # ------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not self._is_token_admin():
            # Odoo checks field groups on write, not on create
            given = {name for vals in vals_list for name in vals} | {
                key.removeprefix("default_") for key in self.env.context
            }
            if given & set(TOKEN_WRITE_GUARD):
                raise AccessError(
                    self.env._(
                        "Only system administrators may set sign-in tokens: "
                        "sign in with the button of the account instead."
                    )
                )
        return super().create(vals_list)

    def write(self, vals):
        if not self._is_token_admin():
            # a token never follows a server, login or provider changed by
            # anyone but a system administrator (a mail administrator could
            # otherwise send the token to a server of his own)
            moved = self._moved_by(
                vals, (*CONNECTION_FIELDS, "auth_method", "oauth_provider_id")
            )
            if moved:
                moved.sudo().write(dict.fromkeys(ALL_TOKEN_FIELDS, False))
        return super().write(vals)

    def _is_token_admin(self):
        return self.env.su or self.env.user.has_group(TOKEN_GROUP)


def _sign_in_name(method, provider):
    """ "Google", "Microsoft" or the provider's name, for messages."""
    return ODOO_SIGN_INS.get(method) or (provider.name if method == "oauth2" else False)


def _expiry(answer):
    """The UNIX time a token of this token-endpoint answer expires."""
    return int(time.time()) + int(answer.get("expires_in") or 3600)


def _error_of(response):
    """The provider's own words for a refusal (RFC 6749 5.2), else its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("error_description") or body.get("error")):
        return str(body.get("error_description") or body.get("error"))
    return f"HTTP {response.status_code}"
