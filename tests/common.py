"""Shared fixtures of the Odoo suite: a real Dovecot on loopback.

The test command starts one Dovecot for the whole run and describes it in
``$CRM_MAIL_TEST_DOVECOT``; run alone (``odoo --test-tags``), the suite
starts its own and stops it at the end of each class.
"""

import itertools
import json
import os
import tempfile
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from odoo.tests import TransactionCase, new_test_user

from odoo.addons.crm_mail_client.devtools.dovecot import Dovecot

_mailbox_counter = itertools.count(1)


def make_mail(
    subject="Hello",
    sender="Ivan Petrov <ivan@client.example>",
    to="sales@crm.test",
    body="Good day!",
    html=None,
    message_id=None,
    date=None,
    attachments=(),
    headers=None,
):
    """A realistic RFC 5322 message as bytes."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(domain="client.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, data, mimetype in attachments:
        maintype, subtype = mimetype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


class MailServerCase(TransactionCase):
    """A Dovecot for the class and a fresh mailbox user per test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        description = os.environ.get("CRM_MAIL_TEST_DOVECOT")
        if description:
            cls.dovecot = Dovecot.from_env(json.loads(description))
        else:
            workdir = tempfile.mkdtemp(prefix="crm_mail_dovecot_")
            cls.dovecot = Dovecot(workdir)
            cls.dovecot.start()
            cls.addClassCleanup(cls.dovecot.stop)
        cls.user_sales = new_test_user(
            cls.env,
            login="crm_mail_sales",
            groups="sales_team.group_sale_salesman",
            name="Sales User",
        )
        cls.user_admin_mail = new_test_user(
            cls.env,
            login="crm_mail_admin",
            groups="base.group_user,crm_mail_client.group_mail_manager",
            name="Mail Admin",
        )

    @classmethod
    def make_romashka(cls):
        """The customer company Romashka LLC and its contact Ivan Petrov."""
        Partner = cls.env["res.partner"]
        cls.romashka = Partner.create(
            {
                "name": "Romashka LLC",
                "is_company": True,
                "email": "info@romashka.example",
            }
        )
        cls.ivan = Partner.create(
            {
                "name": "Ivan Petrov",
                "email": "ivan@romashka.example",
                "parent_id": cls.romashka.id,
            }
        )

    def setUp(self):
        super().setUp()
        # one fresh mailbox per test: tests never see each other's mail
        self.mailbox = f"box{os.getpid()}x{next(_mailbox_counter)}@crm.test"
        self.mailbox_password = "s3cret-pass"
        self.dovecot.add_user(self.mailbox, self.mailbox_password)

    def deliver(self, raw, folder="INBOX", seen=False, received=None):
        """Put a mail in the test mailbox; ``received`` sets its arrival date
        (the IMAP INTERNALDATE, which Dovecot takes from the file's mtime)."""
        path = self.dovecot.deliver(self.mailbox, raw, folder=folder, seen=seen)
        if received:
            os.utime(path, (received.timestamp(), received.timestamp()))
        return path

    def make_account(self, protocol="imap", security="ssl", **values):
        dovecot = self.dovecot
        ports = {
            ("imap", "ssl"): dovecot.imaps_port,
            ("imap", "starttls"): dovecot.imap_port,
            ("pop3", "ssl"): dovecot.pop3s_port,
            ("pop3", "starttls"): dovecot.pop3_port,
        }
        vals = {
            "name": "Sales box",
            "email": self.mailbox,
            "protocol": protocol,
            "incoming_host": dovecot.host,
            "incoming_port": ports[(protocol, security)],
            "incoming_security": security,
            "login": self.mailbox,
            "password": self.mailbox_password,
            "ca_certificate": dovecot.ca_pem,
            "timeout": 10,
            "initial_days": 0,
            "smtp_host": False,
            **values,
        }
        # created as the superuser: a user's own create() makes it his mailbox
        account = self.env["crm.mail.account"].sudo().create(vals)
        return account.sudo(self.env.su)

    def main_contact_field(self):
        """A custom "main contact" field on partners, set as the company's
        Company Main Contact Field (as an old CRM's import would have)."""
        self.env["ir.model.fields"].create(
            {
                "name": "x_main_contact_id",
                "model_id": self.env.ref("base.model_res_partner").id,
                "ttype": "many2one",
                "relation": "res.partner",
                "field_description": "Main",
            }
        )
        self.env.company.crm_mail_company_contact_field = "x_main_contact_id"
        return "x_main_contact_id"

    def grant(self, account, user, **flags):
        """Give ``user`` a rights line on ``account`` (as an administrator)."""
        return (
            self.env["crm.mail.account.access"]
            .sudo()
            .create({"account_id": account.id, "user_id": user.id, **flags})
        )

    def bus_notices(self, user, kind="crm_mail_client/new_mail"):
        """The bus notifications of type ``kind`` sent to ``user`` so far
        (written at commit: the pending ones are flushed first)."""
        self.env.cr.precommit.run()
        return [
            json.loads(message)
            for message in self.env["bus.bus"]
            .sudo()
            .search([("channel", "like", f'"res.partner",{user.partner_id.id}]')])
            .mapped("message")
            if kind in message
        ]

    def assert_failed(self, action, account, text):
        """The connection action reported ``text`` and kept it on the account."""
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn(text, action["params"]["message"])
        self.assertEqual(account.state, "error")
        self.assertIn(text, account.last_error)
