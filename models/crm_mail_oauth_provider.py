from odoo import api, fields, models

#: SASL mechanisms an OAuth2 provider's mail servers accept
MECHANISMS = [("xoauth2", "XOAUTH2"), ("oauthbearer", "OAUTHBEARER (RFC 7628)")]


class CrmMailOAuthProvider(models.Model):
    """An OAuth2 provider other than Google and Microsoft (those use Odoo's
    own ``google_gmail`` / ``microsoft_outlook`` settings): Yandex 360,
    Mail.ru, or any server that accepts XOAUTH2 or OAUTHBEARER. Configured
    once by an administrator; users then sign in with it."""

    _name = "crm.mail.oauth.provider"
    _description = "Mail Sign-in Provider (OAuth2)"
    _order = "sequence, name, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    domains = fields.Char(
        help="Mail domains of this provider, separated by spaces or commas "
        "(e.g. yandex.ru ya.ru): typing such an address offers this sign-in."
    )
    authorize_url = fields.Char(
        string="Authorization URL", required=True, help="Where the user consents."
    )
    token_url = fields.Char(string="Token URL", required=True)
    revoke_url = fields.Char(
        string="Revocation URL",
        help="Disconnecting revokes the tokens here (RFC 7009), when set.",
    )
    scope = fields.Char(help="Scopes asked for, separated by spaces.")
    client_id = fields.Char(string="Client ID", groups="base.group_system")
    client_secret = fields.Char(groups="base.group_system", copy=False)
    mechanism = fields.Selection(
        MECHANISMS, string="SASL Mechanism", required=True, default="xoauth2"
    )
    imap_host = fields.Char(string="IMAP Server")
    smtp_host = fields.Char(string="SMTP Server")
    is_configured = fields.Boolean(
        compute="_compute_is_configured",
        help="The client ID and secret are set: users can sign in.",
    )

    @api.depends_context("uid")
    def _compute_is_configured(self):
        for provider, secret in zip(self, self.sudo(), strict=True):
            provider.is_configured = bool(secret.client_id and secret.client_secret)

    def _domain_list(self):
        self.ensure_one()
        text = (self.domains or "").replace(",", " ").lower()
        return [d.strip().lstrip("@") for d in text.split() if d.strip()]

    @api.model
    def _for_domain(self, domain):
        """The active provider serving this mail domain, or an empty recordset."""
        for provider in self.sudo().search([]):
            if domain and domain.lower() in provider._domain_list():
                return provider.sudo(False)
        return self.browse()
