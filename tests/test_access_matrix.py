import base64

from odoo.tests import HttpCase, new_test_user, tagged

from .test_access_rules import AccessFixture, RpcMixin

# a 1x1 PNG: served as an image by /web/image when readable
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@tagged("post_install", "-at_install")
class TestAccessMatrix(RpcMixin, AccessFixture, HttpCase):
    """Every user against every mail, account and attachment, over HTTP.

    A: reads X's incoming mail; B: reads X and manages its incoming rights;
    C: owns the personal account Z; D: may only send from X;
    E: an internal user with no rights line at all.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()
        cls.user_e = new_test_user(
            cls.env, login="mailuser_e", groups="base.group_user", name="E"
        )
        cls.user_admin_mail = new_test_user(
            cls.env,
            login="mailadmin_m",
            groups="base.group_user,crm_mail_client.group_mail_manager",
            name="M",
        )
        Attachment = cls.env["ir.attachment"]
        cls.att_z = Attachment.create(
            {
                "name": "private.png",
                "datas": base64.b64encode(PNG),
                "mimetype": "image/png",
                "res_model": "crm.mail.message",
                "res_id": cls.z_in.id,
            }
        )
        cls.att_x_png = Attachment.create(
            {
                "name": "x.png",
                "datas": base64.b64encode(PNG),
                "mimetype": "image/png",
                "res_model": "crm.mail.message",
                "res_id": cls.x_in.id,
            }
        )

    # ------------------------------------------------------------
    # mails
    # ------------------------------------------------------------

    def test_mail_read_matrix(self):
        mails = self.x_in | self.x_out | self.y_in | self.z_in
        expected = {
            self.user_a: self.x_in,
            self.user_b: self.x_in,
            self.user_c: self.z_in,
            self.user_d: self.env["crm.mail.message"],
            self.user_e: self.env["crm.mail.message"],
        }
        for user, readable in expected.items():
            with self.subTest(user=user.name):
                self.login(user)
                found, error = self.call(
                    "crm.mail.message",
                    "search_read",
                    [("id", "in", mails.ids)],
                    fields=["subject", "body_html"],
                )
                if error:  # no ACL on the model at all: nothing readable
                    self.assertFalse(readable, error)
                    continue
                self.assertEqual(sorted(m["id"] for m in found), sorted(readable.ids))
                for mail in mails - readable:
                    self.assert_denied(
                        "crm.mail.message", "read", [mail.id], ["subject"]
                    )

    def test_mail_write_and_unlink(self):
        self.login(self.user_a)
        for vals in (
            {"subject": "forged"},
            {"body_html": "<p>forged</p>"},
            {"account_id": self.y.id},
            {"direction": "outgoing"},
            {"partner_id": False},
        ):
            with self.subTest(vals=vals):
                self.assert_denied("crm.mail.message", "write", [self.x_in.id], vals)
        self.assert_denied("crm.mail.message", "unlink", [self.x_in.id])
        self.assert_denied("crm.mail.message", "unlink", [self.z_in.id])
        self.assert_denied(
            "crm.mail.message", "write", [self.z_in.id], {"subject": "x"}
        )
        self.assertTrue(self.x_in.exists() and self.z_in.exists())
        self.assertEqual(self.x_in.subject, "x in")
        # C owns Z: he may do everything with its mail, nothing with X's
        self.login(self.user_c)
        self.assert_denied("crm.mail.message", "unlink", [self.x_in.id])
        result, error = self.call("crm.mail.message", "unlink", [self.z_in.id])
        self.assertIsNone(error)
        self.assertFalse(self.z_in.exists())

    def test_in_write_changes_links_and_flags_only(self):
        """Relinking a mail is not rewriting it: with in_write, A may move
        X's incoming mail to another customer and flag it, but neither forge
        its content nor queue it for sending (the send cron would mail it
        from X without A's out_send), nor choose its responsible (who may
        read it: those who give rights choose him)."""
        self.x.access_ids.filtered(lambda r: r.user_id == self.user_a).write(
            {"in_write": True}
        )
        other = self.env["res.partner"].create({"name": "Vektor"})
        self.login(self.user_a)
        for vals in (
            {"state": "outgoing"},
            {"email_to": "victim@example.com"},
            {"subject": "forged"},
            {"body_html": "<p>forged</p>"},
            {"email_from": "boss@crm.test"},
            {"message_id": "<forged@crm.test>"},
            {"author_user_id": self.user_a.id},
            {"user_id": self.user_a.id},
        ):
            with self.subTest(vals=vals):
                self.assert_denied("crm.mail.message", "write", [self.x_in.id], vals)
        result, error = self.call(
            "crm.mail.message",
            "write",
            [self.x_in.id],
            {
                "partner_id": other.id,
                "review_state": "reviewed",
            },
        )
        self.assertIsNone(error)
        self.assertEqual(
            (self.x_in.partner_id, self.x_in.review_state, self.x_in.state),
            (other, "reviewed", "received"),
        )
        # and a sent mail stays what was sent, even for the one who wrote it
        self.x_out.sudo().author_user_id = self.user_a
        self.assert_denied(
            "crm.mail.message", "write", [self.x_out.id], {"body_html": "<p>x</p>"}
        )

    def test_out_write_relinks_but_never_queues(self):
        """The fetched copy of the team's own mail (Sent folder: outgoing,
        received) is relinked with out_write, never rewritten or queued: the
        send cron would mail it from X to anyone."""
        self.x.sudo().smtp_host = "smtp.invalid"
        fetched = self.x_out.sudo().copy(
            {"state": "received", "dedupe_key": False, "subject": "fetched"}
        )
        self.x.access_ids.filtered(lambda r: r.user_id == self.user_a).write(
            {"out_read": True, "out_write": True}
        )
        self.login(self.user_a)
        for vals in (
            {"state": "outgoing"},
            {"state": "outgoing", "email_to": "victim@example.com"},
            {"body_html": "<p>forged</p>"},
            {"state": "sent"},
        ):
            with self.subTest(vals=vals):
                self.assert_denied("crm.mail.message", "write", [fetched.id], vals)
        result, error = self.call(
            "crm.mail.message", "write", [fetched.id], {"review_state": "reviewed"}
        )
        self.assertIsNone(error)
        self.assertEqual(
            (fetched.state, fetched.review_state, fetched.subject),
            ("received", "reviewed", "fetched"),
        )

    def test_queueing_needs_the_send_right(self):
        """A failed mail is retried, and a draft queued, only by a user who
        may still send from its account."""
        self.x.sudo().smtp_host = "smtp.invalid"
        failed = self.x_out.sudo().copy(
            {
                "state": "error",
                "dedupe_key": False,
                "author_user_id": self.user_a.id,
                "error": "refused",
            }
        )
        self.login(self.user_a)  # wrote it, may no longer send from X
        self.assert_denied("crm.mail.message", "action_retry", [failed.id])
        self.assert_denied(
            "crm.mail.message", "write", [failed.id], {"state": "outgoing"}
        )
        self.assertEqual(failed.state, "error")
        result, error = self.call(
            "crm.mail.message", "write", [failed.id], {"state": "draft"}
        )
        self.assertIsNone(error, "taking it back to drafts is his")
        # D may send from X: he creates drafts and queued mail of his own
        self.login(self.user_d)
        base = {"account_id": self.x.id, "direction": "outgoing", "subject": "s"}
        for vals in (
            {**base, "state": "sent"},
            {**base, "state": "received"},
            {**base, "state": "outgoing", "author_user_id": self.user_a.id},
            {**base, "state": "draft", "direction": "incoming"},
        ):
            with self.subTest(vals=vals):
                self.assert_denied("crm.mail.message", "create", vals)
        mail_id, error = self.call(
            "crm.mail.message", "create", {**base, "state": "outgoing"}
        )
        self.assertIsNone(error)
        mail = self.env["crm.mail.message"].browse(mail_id)
        self.assertEqual((mail.state, mail.author_user_id), ("outgoing", self.user_d))

    def test_send_cron_sends_outgoing_mail_only(self):
        """Whatever put it there, an incoming mail in the queue is not sent."""
        self.x_in.sudo().state = "outgoing"
        self.env["crm.mail.message"]._cron_send_mail()
        self.assertEqual(self.x_in.state, "outgoing", "never handed to SMTP")
        self.assertFalse(self.x_in.error)

    # ------------------------------------------------------------
    # accounts and secrets
    # ------------------------------------------------------------

    def test_secrets_hidden_from_non_managers(self):
        for user in (self.user_a, self.user_b, self.user_c, self.user_d):
            with self.subTest(user=user.name):
                self.login(user)
                account = self.z if user == self.user_c else self.x
                for field in ("password", "smtp_password"):
                    self.assert_denied(
                        "crm.mail.account", "read", [account.id], [field]
                    )
                    self.assert_denied(
                        "crm.mail.account",
                        "search_read",
                        [("id", "=", account.id)],
                        fields=[field],
                    )
                # a read of every field leaves the secrets out
                result, error = self.call("crm.mail.account", "read", [account.id])
                if not error:
                    self.assertNotIn("password", result[0])
                    self.assertNotIn("smtp_password", result[0])
                    self.assertNotIn("secret-pw", str(result))
                # nor can the secret be found by searching on it
                found, error = self.call(
                    "crm.mail.account",
                    "search",
                    [("password", "=", "secret-pw")],
                )
                self.assertFalse(found)
        self.login(self.user_admin_mail)
        result, error = self.call("crm.mail.account", "read", [self.x.id], ["password"])
        self.assertIsNone(error)
        self.assertEqual(result[0]["password"], "secret-pw")

    def test_personal_account_invisible(self):
        for user in (self.user_a, self.user_b, self.user_d, self.user_e):
            with self.subTest(user=user.name):
                self.login(user)
                found, error = self.call(
                    "crm.mail.account", "search", [("id", "=", self.z.id)]
                )
                self.assertFalse(found)
                self.assert_denied("crm.mail.account", "read", [self.z.id], ["name"])
                self.assert_denied(
                    "crm.mail.account", "write", [self.z.id], {"name": "mine"}
                )
                self.assert_denied("crm.mail.account", "unlink", [self.z.id])
        self.assertEqual(self.z.name, "Z")

    def test_account_write_and_unlink(self):
        self.login(self.user_a)
        self.assert_denied("crm.mail.account", "write", [self.x.id], {"name": "mine"})
        self.assert_denied(
            "crm.mail.account", "write", [self.x.id], {"incoming_host": "evil.example"}
        )
        self.assert_denied("crm.mail.account", "unlink", [self.x.id])
        self.assertEqual(self.x.incoming_host, "imap.invalid")

    # ------------------------------------------------------------
    # attachments over /web/content and /web/image
    # ------------------------------------------------------------

    def test_attachment_download_matrix(self):
        readable = {
            self.user_a: self.att_x | self.att_x_png,
            self.user_b: self.att_x | self.att_x_png,
            self.user_c: self.att_z,
            self.user_d: self.env["ir.attachment"],
            self.user_e: self.env["ir.attachment"],
        }
        every = self.att_x | self.att_x_png | self.att_y | self.att_z
        secrets = {b"%PDF x", b"%PDF y", PNG}
        for user, allowed in readable.items():
            self.login(user)
            for attachment in every:
                with self.subTest(user=user.name, attachment=attachment.name):
                    raw = base64.b64decode(attachment.datas)
                    content = self.url_open(
                        f"/web/content/{attachment.id}?download=true"
                    )
                    image = self.url_open(f"/web/image/{attachment.id}")
                    if attachment in allowed:
                        self.assertEqual(content.status_code, 200)
                        self.assertEqual(content.content, raw)
                    else:
                        self.assertIn(content.status_code, (403, 404))
                        self.assertNotIn(content.content, secrets)
                        # /web/image answers a placeholder, never the bytes
                        self.assertNotEqual(image.content, raw)
                        self.assertNotIn(image.content, secrets)
                        self.assert_denied(
                            "ir.attachment", "read", [attachment.id], ["datas"]
                        )
            found, error = self.call(
                "ir.attachment",
                "search_read",
                [("id", "in", every.ids)],
                fields=["name"],
            )
            self.assertEqual(
                sorted(a["id"] for a in found or []), sorted(allowed.ids), user.name
            )

    def test_attachment_not_writable_or_movable(self):
        self.login(self.user_a)
        self.assert_denied("ir.attachment", "write", [self.att_x.id], {"datas": "TVo="})
        self.assert_denied(
            "ir.attachment", "write", [self.att_y.id], {"res_id": self.x_in.id}
        )
        self.assert_denied("ir.attachment", "unlink", [self.att_x.id])
        self.assert_denied("ir.attachment", "unlink", [self.att_z.id])
        self.assertEqual(base64.b64decode(self.att_x.datas), b"%PDF x")
