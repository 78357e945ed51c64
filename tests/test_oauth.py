"""OAuth2 mailboxes against real servers: Dovecot and the SMTP peer accept
XOAUTH2/OAUTHBEARER tokens checked at the local OAuth2 provider, which also
stands in for the token endpoints of Google, Microsoft and Yandex."""

import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from odoo.tests import Form, HttpCase, new_test_user, tagged

from .common import MailServerCase, make_mail
from .test_access_rules import RpcMixin
from .test_send import SendCase


class OAuthSetup:
    """Google, Microsoft and Yandex 360 set up against the local provider."""

    @classmethod
    def setup_providers(cls):
        url = cls.dovecot.oauth_url
        cls.store = cls.dovecot.oauth_store
        params = cls.env["ir.config_parameter"].sudo()
        for key, value in {
            "google_gmail_client_id": "google-client",
            "google_gmail_client_secret": "google-secret",
            "crm_mail_client.google_token_endpoint": f"{url}/token",
            "crm_mail_client.google_revoke_endpoint": f"{url}/revoke",
            "microsoft_outlook_client_id": "ms-client",
            "microsoft_outlook_client_secret": "ms-secret",
            "microsoft_outlook.endpoint": f"{url}/",
        }.items():
            params.set_param(key, value)
        cls.yandex = cls.env.ref("crm_mail_client.oauth_provider_yandex")
        cls.yandex.write(
            {
                "authorize_url": f"{url}/authorize",
                "token_url": f"{url}/token",
                "revoke_url": f"{url}/revoke",
                "client_id": "yandex-client",
                "client_secret": "yandex-secret",
            }
        )

    def make_oauth_account(self, method, expires_in=3600, **values):
        """An account signed in with ``method`` (tokens of its mailbox)."""
        access, refresh = self.store.issue(self.mailbox, expires_in=expires_in)
        account = self.make_account(auth_method=method, password=False, **values)
        prefix = {
            "gmail": "google_gmail",
            "outlook": "microsoft_outlook",
            "oauth2": "oauth",
        }[method]
        account.sudo().write(
            {
                f"{prefix}_refresh_token": refresh,
                f"{prefix}_access_token": access,
                f"{prefix}_access_token_expiration": int(time.time()) + expires_in,
            }
        )
        return account, access, refresh


@tagged("post_install", "-at_install")
class TestOAuthMail(OAuthSetup, SendCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_providers()
        cls.peer.oauth_store = cls.dovecot.oauth_store

    def fetched(self, account):
        return self.env["crm.mail.message"].search([("account_id", "=", account.id)])

    def test_fetch_and_send_with_a_token(self):
        account, _access, _refresh = self.make_oauth_account(
            "gmail",
            smtp_host=self.peer.host,
            smtp_port=self.peer.smtps_port,
            smtp_security="ssl",
        )
        self.deliver(make_mail(subject="Заказ по OAuth"))
        action = account.action_test_connection()
        self.assertEqual(action["params"]["type"], "success", account.last_error)
        account.action_fetch_now()
        self.assertEqual(self.fetched(account).mapped("subject"), ["Заказ по OAuth"])
        self.assertIn(self.mailbox, self.peer.oauth_logins, "SMTP logged in by token")
        self.grant(account, self.user_sales, out_send=True, out_default=True)
        form = self.composer()
        form.account_id = account
        form.email_to = "ivan@romashka.example"
        form.subject = "Ответ"
        self.send(form)
        sent = self.peer.received()
        self.assertEqual(len(sent), 1)
        self.assertIn(b"Subject:", sent[0]["data"])
        self.assertEqual(self.sent_mails(account).state, "sent")

    def test_expired_token_is_refreshed_then_used(self):
        for method, protocol in (("outlook", "pop3"), ("oauth2", "imap")):
            with self.subTest(method=method):
                self.setUp()  # a fresh mailbox
                values = (
                    {"oauth_provider_id": self.yandex.id} if method == "oauth2" else {}
                )
                account, access, _refresh = self.make_oauth_account(
                    method, protocol=protocol, **values
                )
                self.store.expire(access)
                prefix = "microsoft_outlook" if method == "outlook" else "oauth"
                # expiring within the margin counts as expired: renewed first
                account.sudo()[f"{prefix}_access_token_expiration"] = (
                    int(time.time()) + 60
                )
                self.deliver(make_mail(subject=f"After refresh {method}"))
                account.action_fetch_now()
                self.assertEqual(account.state, "ok", account.last_error)
                self.assertEqual(len(self.fetched(account)), 1)
                renewed = account.sudo()[f"{prefix}_access_token"]
                self.assertNotEqual(renewed, access)
                self.assertGreater(
                    account.sudo()[f"{prefix}_access_token_expiration"],
                    time.time() + 3000,
                )

    def test_revoked_sign_in_alerts_the_owner_and_others_flow(self):
        account, access, _refresh = self.make_oauth_account(
            "oauth2", oauth_provider_id=self.yandex.id, user_id=self.user_sales.id
        )
        self.store.revoke_user(self.mailbox)
        account.sudo().oauth_access_token_expiration = 0
        self.deliver(make_mail(subject="Kept on the server"))
        # another mailbox, by password, in the same cron pass
        self.setUp()
        other = self.make_account(name="Password box")
        self.deliver(make_mail(subject="Still flowing"))
        self.env["crm.mail.account"]._cron_fetch_mail()
        self.assertEqual(account.state, "error")
        self.assertEqual(account.last_error_code, "oauth_revoked")
        self.assertIn("Sign in with Yandex 360 again", account.last_error)
        self.assertNotIn(access, account.last_error)
        todo = account.sudo().activity_ids.filtered(
            lambda a: a.user_id == self.user_sales
        )
        self.assertEqual(len(todo), 1, "the owner is alerted at the first failure")
        self.assertEqual(self.fetched(other).mapped("subject"), ["Still flowing"])
        self.assertEqual(other.state, "ok")

    def test_a_token_of_another_user_is_refused(self):
        account, _access, _refresh = self.make_oauth_account("gmail")
        stranger = self.store.issue("stranger@crm.test")[0]
        account.sudo().google_gmail_access_token = stranger
        action = account.action_test_connection()
        self.assert_failed(action, account, "refused the sign-in of")

    def test_not_signed_in_says_so(self):
        account = self.make_account(auth_method="outlook", password=False)
        # the cron leaves a new mailbox alone until its owner signs in
        self.env["crm.mail.account"]._cron_fetch_mail()
        self.assertEqual(account.state, "draft")
        self.assertFalse(account.last_error)
        account.action_fetch_now()
        self.assertEqual(account.last_error_code, "oauth_not_connected")
        self.assertIn("Sign in with Microsoft", account.last_error)

    def test_disconnect_revokes_and_forgets(self):
        account, _access, refresh = self.make_oauth_account(
            "oauth2", oauth_provider_id=self.yandex.id
        )
        self.assertTrue(account.oauth_connected)
        account.action_oauth_disconnect()
        self.assertFalse(account.oauth_connected)
        self.assertFalse(account.sudo().oauth_access_token)
        self.assertTrue(self.store.read()["refresh"][refresh]["revoked"])

    def test_address_presets_recommend_sign_in(self):
        form = Form(self.env["crm.mail.account"])
        form.email = "ivan@yandex.ru"
        self.assertEqual(form.auth_method, "oauth2")
        self.assertEqual(form.oauth_provider_id, self.yandex)
        self.assertEqual(form.incoming_host, "imap.yandex.ru")
        form = Form(self.env["crm.mail.account"])
        form.email = "ivan@mail.ru"  # Mail.ru: not set up here
        self.assertEqual(form.auth_method, "password")
        self.assertIn("administrator sets it up", form.provider_note)
        form = Form(self.env["crm.mail.account"])
        form.email = "olga@gmail.com"
        self.assertEqual(form.auth_method, "gmail")

    def test_a_mail_administrator_moving_the_server_drops_the_tokens(self):
        """Only system administrators see tokens: a mail administrator who
        points a signed-in mailbox elsewhere would receive its token there."""
        account, _access, _refresh = self.make_oauth_account("outlook")
        admin = account.with_user(self.user_admin_mail)
        admin.write(
            {"incoming_host": "imap.attacker.example", "verify_certificate": False}
        )
        self.assertFalse(account.sudo().microsoft_outlook_refresh_token)
        account, _access, _refresh = self.make_oauth_account("outlook")
        account.with_user(self.user_admin_mail).write({"max_per_run": 20})
        self.assertTrue(account.sudo().microsoft_outlook_refresh_token, "nothing moved")

    def test_a_changed_server_drops_the_tokens(self):
        account, _access, _refresh = self.make_oauth_account(
            "gmail", user_id=self.user_sales.id
        )
        account.with_user(self.user_sales).incoming_host = "imap.attacker.example"
        self.assertFalse(account.sudo().google_gmail_refresh_token)
        self.assertFalse(account.oauth_connected)


@tagged("post_install", "-at_install")
class TestOAuthConsent(OAuthSetup, RpcMixin, MailServerCase, HttpCase):
    """The consent round trip through Odoo's controllers, as a salesperson."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_providers()
        cls.user_other = new_test_user(
            cls.env, login="crm_mail_other", groups="sales_team.group_sale_salesman"
        )

    def callback(self, url, user):
        """The provider's redirect to Odoo, followed as ``user``."""
        self.login(user)
        parts = urlsplit(url)
        return self.url_open(f"{parts.path}?{parts.query}", allow_redirects=False)

    def test_a_salesperson_connects_his_own_mailbox(self):
        for method in ("outlook", "oauth2"):
            with self.subTest(method=method):
                self.setUp()
                account = self.make_account(
                    auth_method=method,
                    password=False,
                    user_id=self.user_sales.id,
                    oauth_provider_id=self.yandex.id if method == "oauth2" else False,
                )
                self.login(self.user_sales)
                action = self.assert_allowed(
                    "crm.mail.account", "action_oauth_sign_in", [account.id]
                )
                # the local provider consents at once, as the login hint
                consent = requests.get(action["url"], allow_redirects=False, timeout=10)
                self.assertEqual(consent.status_code, 302)
                back = self.callback(consent.headers["Location"], self.user_sales)
                self.assertEqual(back.status_code, 303, back.text[:300])
                self.assertIn(
                    f"/odoo/crm.mail.account/{account.id}", back.headers["Location"]
                )
                account.invalidate_recordset()
                self.assertTrue(account.oauth_connected, account.last_error)
                self.assertEqual(account.state, "draft")
                action = account.action_test_connection()
                self.assertEqual(
                    action["params"]["type"], "success", account.last_error
                )

    def test_google_callback_for_a_personal_mailbox(self):
        account = self.make_account(
            auth_method="gmail", password=False, user_id=self.user_sales.id
        )
        self.login(self.user_sales)
        action = self.assert_allowed(
            "crm.mail.account", "action_oauth_sign_in", [account.id]
        )
        query = parse_qs(urlsplit(action["url"]).query)
        self.assertEqual(query["login_hint"], [self.mailbox])
        code = self.store.code(self.mailbox)
        # another user cannot complete this consent, even with the link
        with self.assertLogs("odoo.addons.crm_mail_client.controllers.main", "WARNING"):
            taken = self.callback(
                f"/google_gmail/confirm?code={code}&state={query['state'][0]}",
                self.user_other,
            )
        self.assertEqual(taken.status_code, 403)
        back = self.callback(
            f"/google_gmail/confirm?code={code}&state={query['state'][0]}",
            self.user_sales,
        )
        self.assertEqual(back.status_code, 303)
        account.invalidate_recordset()
        self.assertTrue(account.oauth_connected)
        self.assertTrue(account.sudo().google_gmail_refresh_token.startswith("r-"))

    def test_forged_or_old_callbacks_change_nothing(self):
        account = self.make_account(
            auth_method="oauth2",
            password=False,
            user_id=self.user_sales.id,
            oauth_provider_id=self.yandex.id,
        )
        forged = json.dumps({"model": "crm.mail.account", "id": account.id})
        old = json.dumps(
            {
                "model": "crm.mail.account",
                "id": account.id,
                "csrf_token": account.with_user(self.user_sales)._oauth_csrf(
                    "oauth2", time.time() - 7200
                ),
            }
        )
        for user, state in ((self.user_other, forged), (self.user_sales, old)):
            query = urlencode({"state": state, "error": "Enter your password at x"})
            with self.assertLogs(
                "odoo.addons.crm_mail_client.controllers.main", "WARNING"
            ):
                answer = self.callback(f"/crm_mail_client/oauth/confirm?{query}", user)
            self.assertEqual(answer.status_code, 403)
            account.invalidate_recordset()
            self.assertEqual(account.state, "draft")
            self.assertFalse(account.last_error)

    def test_no_tokens_through_create(self):
        self.login(self.user_sales)
        vals = {"name": "Mine", "email": "mine@crm.test", "auth_method": "gmail"}
        self.assert_denied(
            "crm.mail.account", "create", [{**vals, "google_gmail_refresh_token": "x"}]
        )
        self.assert_denied(
            "crm.mail.account",
            "create",
            [vals],
            context={"default_oauth_access_token": "planted"},
        )
        self.assert_allowed("crm.mail.account", "create", [vals])

    def test_tokens_are_secrets(self):
        account = self.make_account(
            auth_method="gmail", password=False, user_id=self.user_sales.id
        )
        shared = self.make_account(auth_method="gmail", password=False, name="Shared")
        self.grant(shared, self.user_sales, in_read=True)
        self.login(self.user_sales)
        for field in ("google_gmail_refresh_token", "google_gmail_access_token"):
            self.assert_denied("crm.mail.account", "read", [account.id], [field])
        result = self.assert_allowed(
            "crm.mail.account", "read", [account.id], ["oauth_connected"]
        )
        self.assertFalse(result[0]["oauth_connected"])
        # a shared mailbox is connected by a mail administrator only
        self.assert_denied("crm.mail.account", "action_oauth_sign_in", [shared.id])
        self.assert_denied("crm.mail.account", "action_oauth_disconnect", [shared.id])
