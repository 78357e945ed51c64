from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged, users

from .common import MailServerCase


@tagged("post_install", "-at_install")
class TestMailAccount(MailServerCase):
    def test_presets_fill_servers(self):
        form = Form(self.env["crm.mail.account"])
        form.email = "Ivan.Petrov@Yandex.ru"
        self.assertEqual(form.incoming_host, "imap.yandex.ru")
        self.assertEqual(form.incoming_port, 993)
        self.assertEqual(form.smtp_host, "smtp.yandex.ru")
        self.assertEqual(form.login, "ivan.petrov@yandex.ru")
        self.assertIn("app password", form.provider_note)
        form.protocol = "pop3"
        self.assertEqual(
            (form.incoming_host, form.incoming_port), ("pop.yandex.ru", 995)
        )
        form.email = "boss@outlook.com"
        self.assertEqual((form.smtp_port, form.smtp_security), (587, "starttls"))
        self.assertIn("OAuth", form.provider_note)
        form.incoming_host = "mail.example.org"  # editable afterwards
        account = form.save()
        self.assertEqual(account.incoming_host, "mail.example.org")

    @users("crm_mail_sales")
    def test_secrets_hidden_from_users(self):
        account = self.make_account(user_id=self.env.uid).with_env(self.env)
        self.assertTrue(account.password_set)
        self.assertFalse(account.password_input)
        with self.assertRaises(AccessError):
            account.read(["password"])
        with self.assertRaises(AccessError):
            account.read(["smtp_password"])
        self.assertNotIn("password", account.fields_get())

    @users("crm_mail_sales")
    def test_self_service_personal_mailbox(self):
        Account = self.env["crm.mail.account"]
        account = Account.create(
            {"name": "Mine", "email": "me@client.example", "password_input": "pw1"}
        )
        self.assertEqual(account.user_id, self.env.user, "a user's mailbox is his own")
        account.password_input = "pw2"
        self.assertEqual(account.sudo().password, "pw2")
        shared = self.make_account(user_id=False).with_env(self.env)
        with self.assertRaises(AccessError):
            shared.check_access("read")  # no rights line: not even visible
        self.grant(shared, self.env.user, in_read=True)
        shared.invalidate_recordset()
        self.assertTrue(shared.name)
        with self.assertRaises(AccessError):
            shared.write({"password_input": "stolen"})
        with self.assertRaises(AccessError):
            account.write({"user_id": self.user_admin_mail.id})

    def test_connection_lists_folders(self):
        self.dovecot.create_folder(self.mailbox, "Клиенты")
        account = self.make_account()
        account.action_test_connection()
        self.assertEqual(account.state, "ok")
        folders = {f.name: f for f in account.folder_ids}
        self.assertIn("INBOX", folders)
        self.assertIn("Клиенты", folders)
        self.assertEqual(folders["Sent"].special_use, "\\Sent")
        # shown as a word, not as the raw IMAP flag
        self.assertEqual(folders["Sent"].special_use_label, "sent")
        self.assertEqual(folders["Junk"].special_use_label, "junk")
        self.assertFalse(folders["Клиенты"].special_use_label)
        self.assertTrue(folders["INBOX"].to_fetch)
        self.assertTrue(folders["Sent"].to_fetch)
        for name in ("Drafts", "Trash", "Junk"):
            self.assertFalse(folders[name].to_fetch, name)

    def test_connection_starttls_and_pop3(self):
        for protocol in ("imap", "pop3"):
            account = self.make_account(protocol=protocol, security="starttls")
            account.action_test_connection()
            self.assertEqual(account.state, "ok")

    def test_wrong_password(self):
        account = self.make_account(password="wrong")
        action = account.action_test_connection()
        self.assert_failed(action, account, "refused the login or password")

    def test_untrusted_certificate(self):
        account = self.make_account(ca_certificate=False)
        action = account.action_test_connection()
        self.assert_failed(action, account, "is not trusted")
        account.verify_certificate = False
        account.action_test_connection()
        self.assertEqual(account.state, "ok")

    def test_host_not_found(self):
        account = self.make_account(incoming_host="no-such-host.invalid")
        action = account.action_test_connection()
        self.assert_failed(action, account, "Host not found")

    def test_closed_port(self):
        account = self.make_account(incoming_port=1)
        action = account.action_test_connection()
        self.assert_failed(action, account, "refused the connection")

    def test_wrong_smtp_password(self):
        account = self.make_account(
            smtp_host="127.0.0.1",
            smtp_port=self.dovecot.imaps_port,  # not an SMTP server: refused
            smtp_security="ssl",
        )
        action = account.action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertEqual(account.state, "error")
        self.assertIn(f"127.0.0.1:{self.dovecot.imaps_port}", account.last_error)

    def test_no_incoming_server(self):
        account = self.make_account(incoming_host=False)
        with self.assertRaises(UserError):
            account.action_test_connection()

    def test_translated_error(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["crm_mail_client"], ["ru_RU"])
        account = self.make_account(password="wrong").with_context(lang="ru_RU")
        action = account.action_test_connection()
        self.assertIn("отклонил", action["params"]["message"])

    def test_cron_follows_accounts(self):
        cron = self.env.ref("crm_mail_client.ir_cron_fetch_mail")
        self.env["crm.mail.account"].search([]).active = False
        self.assertFalse(cron.active)
        account = self.make_account()
        self.assertTrue(cron.active)
        account.active = False
        self.assertFalse(cron.active)

    def test_parallel_fetch_jobs(self):
        Account = self.env["crm.mail.account"]
        Account._set_fetch_jobs(3)
        crons = Account._fetch_crons()
        self.assertEqual(len(crons), 3)
        self.assertEqual(
            sorted(crons.mapped("code")),
            [f"model._cron_fetch_mail(job={j}, jobs=3)" for j in range(3)],
        )
        Account._set_fetch_jobs(1)
        self.assertEqual(Account._fetch_crons().code, "model._cron_fetch_mail()")
