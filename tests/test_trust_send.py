"""Trust, round 2 (issue #18, items 17-18): sending that is crash-safe,
bounded, and says RCPT TO only for real recipients. Against the SMTP peer
and Dovecot."""

import re
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from .test_send import SendCase, real_smtp


@tagged("post_install", "-at_install")
class TestTrustSend(SendCase):
    def queue(self, account, subject, email_to="ivan@romashka.example", **vals):
        return (
            self.env["crm.mail.message"]
            .with_user(self.user_sales)
            .create(
                {
                    "account_id": account.id,
                    "direction": "outgoing",
                    "state": "outgoing",
                    "subject": subject,
                    "email_to": email_to,
                    "body_html": "<p>x</p>",
                    **vals,
                }
            )
        )

    def run_cron(self):
        with real_smtp():
            self.env["crm.mail.message"]._cron_send_mail()

    # ------------------------------------------------------------
    # 18. the composer never talks to the SMTP server
    # ------------------------------------------------------------

    def test_18_send_queues_and_the_cron_sends(self):
        account = self.make_sender()
        cron = self.env.ref("crm_mail_client.ir_cron_send_mail")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        form = self.composer()
        form.email_to = "ivan@romashka.example"
        form.subject = "Счёт"
        wizard = form.save()
        with real_smtp():
            action = wizard.action_send()
        mail = self.sent_mails(account)
        self.assertEqual(mail.state, "outgoing", "queued, committed with the request")
        self.assertFalse(self.peer.received(), "no SMTP inside the request")
        self.assertIn("queued", action["params"]["title"].lower())
        new = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers
        self.assertTrue(new, "the send cron starts at once")
        self.run_cron()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(len(self.peer.received()), 1)

    # ------------------------------------------------------------
    # 17. the send cron
    # ------------------------------------------------------------

    def test_17_envelope_has_only_real_addresses(self):
        account = self.make_sender()
        self.queue(account, "bike", email_to='"Bike@Home" <olga@client.example>')
        self.run_cron()
        (received,) = self.peer.received()
        self.assertEqual(received["rcpt_tos"], ["olga@client.example"])

    def test_17_one_imap_session_for_the_sent_copies(self):
        account = self.make_sender(upload_sent=True)
        for index in range(3):
            self.queue(account, f"copy {index}")
        log = self.dovecot.log_path
        before = log.read_text(errors="replace") if log.exists() else ""
        self.run_cron()
        self.assertEqual(len(self.peer.received()), 3)
        added = log.read_text(errors="replace")[len(before) :]
        logins = re.findall(
            rf"imap-login: Info: Login: user=<{re.escape(self.mailbox)}>", added
        )
        self.assertEqual(len(logins), 1, "one IMAP login for the batch")
        self.assertEqual(self.dovecot.message_count(self.mailbox, "Sent"), 3)

    def test_17_a_mail_that_cannot_be_built_fails_alone(self):
        account = self.make_sender()
        good = self.queue(account, "good")
        bad = self.queue(account, "bad")
        MailServer = self.env.registry["ir.mail_server"]
        original = MailServer.build_email

        def build_email(server, *args, **kwargs):
            if kwargs.get("subject") == "bad":
                raise RuntimeError("a template left a broken part")
            return original(server, *args, **kwargs)

        with patch.object(MailServer, "build_email", build_email):
            self.run_cron()
        self.assertEqual((good.state, bad.state), ("sent", "error"))
        self.assertIn("broken part", bad.error)

    def test_17_server_unreachable_is_tried_again_later(self):
        account = self.make_sender()
        peer_port = account.smtp_port
        self.peer.stop()
        try:
            mail = self.queue(account, "later")
            self.run_cron()
            self.assertEqual((mail.state, mail.send_attempts), ("outgoing", 1))
            self.assertGreater(mail.next_try, fields.Datetime.now())
            self.assertIn("refused the connection", mail.error)
            self.run_cron()
            self.assertEqual(mail.send_attempts, 1, "not before its time")
        finally:
            self.peer.start()
        self.assertEqual(account.smtp_port, peer_port)
        mail.sudo().next_try = fields.Datetime.now() - timedelta(seconds=1)
        self.run_cron()
        self.assertEqual(mail.state, "sent")
        self.assertFalse(mail.error)

    def test_17_temporary_refusal_is_tried_again(self):
        account = self.make_sender()
        self.peer.refuse_rcpt = {"busy@client.example"}
        self.peer.refuse_code = 451
        try:
            mail = self.queue(account, "busy", email_to="busy@client.example")
            self.run_cron()
        finally:
            self.peer.refuse_code = 550
        self.assertEqual((mail.state, mail.send_attempts), ("outgoing", 1))
        # a permanent refusal fails at once
        hard = self.queue(account, "hard", email_to="busy@client.example")
        self.run_cron()
        self.assertEqual(hard.state, "error")

    def test_17_the_cron_stops_at_its_deadline(self):
        account = self.make_sender()
        mails = self.queue(account, "a") | self.queue(account, "b")
        handled = mails.sudo()._send_now(deadline=time.monotonic() - 1)
        self.assertFalse(handled)
        self.assertEqual(set(mails.mapped("state")), {"outgoing"}, "left queued")
        self.assertFalse(self.peer.received())

    # ------------------------------------------------------------
    # found by review: the cron claims a mail, IDN, a closed session
    # ------------------------------------------------------------

    def test_17_a_mail_taken_back_to_draft_is_not_sent(self):
        account = self.make_sender()
        mail = self.queue(account, "second thoughts")
        queued = mail.sudo()
        queued.mapped("state")  # the batch read it as queued...
        # ...then the author took it back, in his own transaction
        self.env.cr.execute(
            "UPDATE crm_mail_message SET state = 'draft' WHERE id = %s", (mail.id,)
        )
        with real_smtp():
            queued._send_now()
        mail.invalidate_recordset()
        self.assertEqual(mail.state, "draft")
        self.assertFalse(self.peer.received())

    def test_17_international_domains_stay_recipients(self):
        account = self.make_sender()
        self.queue(account, "idn", email_to="Jörg <joerg@bücher.de>, bob@example.com")
        self.queue(account, "bike", email_to='"Bike@Home" <joerg@bücher.de>')
        self.run_cron()
        rcpts = sorted(item["rcpt_tos"] for item in self.peer.received())
        self.assertEqual(
            rcpts,
            [["joerg@xn--bcher-kva.de"], ["joerg@xn--bcher-kva.de", "bob@example.com"]],
        )

    def test_17_a_session_the_server_closed_sends_nothing_more(self):
        """A 421 closes the session: the mails after it never left, so they
        wait for another try instead of asking a human to check."""
        account = self.make_sender()
        mails = self.queue(account, "one") | self.queue(account, "two")
        self.peer.mail_reply = "421 4.3.2 Service shutting down"
        try:
            self.run_cron()
        finally:
            self.peer.mail_reply = None
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})
        self.assertEqual(mails.mapped("send_attempts"), [1, 1])

    def test_17_a_recipient_refused_among_others_is_told(self):
        account = self.make_sender()
        mail = self.queue(
            account, "partly", email_to="nobody@client.example, ivan@romashka.example"
        )
        self.run_cron()
        self.assertEqual(mail.state, "sent")
        self.assertIn("nobody@client.example", mail.error)
        (received,) = self.peer.received()
        self.assertEqual(received["rcpt_tos"], ["ivan@romashka.example"])
