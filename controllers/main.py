"""OAuth2 consent callbacks of mail accounts.

Google and Microsoft return to Odoo's own callbacks (the redirect URIs an
administrator registered once for Odoo): for a ``crm.mail.account`` state
they are answered here, for anyone (the owner of a personal mailbox, not only
an administrator); every other state goes on to Odoo's code unchanged. Other
providers return to ``/crm_mail_client/oauth/confirm``.
"""

import json
import logging

from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from odoo.addons.google_gmail.controllers.main import GoogleGmailController
from odoo.addons.microsoft_outlook.controllers.main import MicrosoftOutlookController

_logger = logging.getLogger(__name__)
ACCOUNT = "crm.mail.account"


def _state(state):
    try:
        value = json.loads(state or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _confirm(method, state, code, error):
    """Store the tokens of the account named in ``state``; back to its form.

    Nothing is written before the user is known to be allowed (his own
    mailbox, or a mail administrator) and the state to be his live consent.
    """
    try:
        account_id = int(state["id"])
    except (KeyError, TypeError, ValueError):
        raise Forbidden() from None
    account = request.env[ACCOUNT].browse(account_id)
    try:
        if not account.exists():
            raise Forbidden()
        account._oauth_check_consent(method, state.get("csrf_token"))
    except AccessError:
        _logger.warning(
            "Mail account %s: user %s may not sign it in.", account_id, request.env.uid
        )
        raise Forbidden() from None
    try:
        if error or not code:
            raise UserError(
                request.env._("The sign-in was cancelled or refused: %s", error or "-")
            )
        account._oauth_confirm(method, state.get("csrf_token"), code)
    except UserError as exc:
        if not account.oauth_connected:
            # shown on the form; a mailbox still signed in keeps working
            account.sudo().write({"state": "error", "last_error": str(exc)})
    return request.redirect(f"/odoo/{ACCOUNT}/{account_id}")


class CrmMailGoogleController(GoogleGmailController):
    @http.route()
    def google_gmail_callback(self, code=None, state=None, error=None, **kwargs):
        parsed = _state(state)
        if parsed and parsed.get("model") == ACCOUNT:
            return _confirm("gmail", parsed, code, error)
        return super().google_gmail_callback(
            code=code, state=state, error=error, **kwargs
        )


class CrmMailOutlookController(MicrosoftOutlookController):
    @http.route()
    def microsoft_outlook_callback(
        self, code=None, state=None, error_description=None, **kwargs
    ):
        parsed = _state(state)
        if parsed and parsed.get("model") == ACCOUNT:
            return _confirm("outlook", parsed, code, error_description)
        return super().microsoft_outlook_callback(
            code=code, state=state, error_description=error_description, **kwargs
        )


class CrmMailOAuthController(http.Controller):
    @http.route("/crm_mail_client/oauth/confirm", type="http", auth="user")
    def crm_mail_oauth_callback(self, code=None, state=None, error=None, **kwargs):
        parsed = _state(state)
        if not parsed or parsed.get("model") != ACCOUNT:
            raise Forbidden()
        return _confirm(
            "oauth2", parsed, code, error or kwargs.get("error_description")
        )
