import base64
import json
import xmlrpc.client

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged


class AccessFixture:
    """Two shared accounts X and Y, a personal one Z, mail in both directions."""

    @classmethod
    def setup_accounts(cls):
        env = cls.env
        sales = "sales_team.group_sale_salesman"
        cls.user_a = new_test_user(env, login="mailuser_a", groups=sales, name="A")
        cls.user_b = new_test_user(env, login="mailuser_b", groups=sales, name="B")
        cls.user_c = new_test_user(env, login="mailuser_c", groups=sales, name="C")
        cls.user_d = new_test_user(env, login="mailuser_d", groups=sales, name="D")
        Account = env["crm.mail.account"].sudo()
        base = {"incoming_host": "imap.invalid", "password": "secret-pw"}
        cls.x = Account.create({"name": "X", "email": "x@crm.test", **base})
        cls.y = Account.create({"name": "Y", "email": "y@crm.test", **base})
        cls.z = Account.create(
            {"name": "Z", "email": "c@crm.test", "user_id": cls.user_c.id, **base}
        )
        cls.customer = env["res.partner"].create(
            {"name": "Romashka", "is_company": True}
        )
        Message = env["crm.mail.message"].sudo()

        def mail(account, direction, subject, **vals):
            return Message.create(
                {
                    "account_id": account.id,
                    "direction": direction,
                    "subject": subject,
                    "partner_id": cls.customer.id,
                    **vals,
                }
            )

        cls.x_in = mail(cls.x, "incoming", "x in")
        cls.x_out = mail(cls.x, "outgoing", "x out", state="sent")
        cls.y_in = mail(cls.y, "incoming", "y in")
        cls.z_in = mail(cls.z, "incoming", "z in")
        cls.att_x = env["ir.attachment"].create(
            {
                "name": "x.pdf",
                "datas": base64.b64encode(b"%PDF x"),
                "res_model": "crm.mail.message",
                "res_id": cls.x_in.id,
            }
        )
        cls.att_y = env["ir.attachment"].create(
            {
                "name": "y.pdf",
                "datas": base64.b64encode(b"%PDF y"),
                "res_model": "crm.mail.message",
                "res_id": cls.y_in.id,
            }
        )
        Access = env["crm.mail.account.access"]
        Access.create(
            {"account_id": cls.x.id, "user_id": cls.user_a.id, "in_read": True}
        )
        Access.create(
            {
                "account_id": cls.x.id,
                "user_id": cls.user_b.id,
                "in_read": True,
                "in_manage": True,
            }
        )
        Access.create(
            {
                "account_id": cls.x.id,
                "user_id": cls.user_d.id,
                "in_read": False,
                "out_send": True,
            }
        )


class RpcMixin:
    """JSON-RPC calls as the logged-in user of an ``HttpCase`` (password =
    login, as ``new_test_user`` makes them)."""

    def call(self, model, method, *args, **kwargs):
        """A JSON-RPC call_kw; returns (result, error class name or None)."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "model": model,
                "method": method,
                "args": list(args),
                "kwargs": kwargs,
            },
        }
        response = self.url_open(
            "/web/dataset/call_kw",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        body = response.json()
        if "error" in body:
            return None, body["error"]["data"]["name"]
        return body.get("result"), None  # a None result is left out

    def login(self, user):
        self.authenticate(user.login, user.login)

    def assert_denied(self, model, method, *args, **kwargs):
        result, error = self.call(model, method, *args, **kwargs)
        self.assertIsNone(result, f"{method} on {model} must be refused")
        self.assertIn("AccessError", error or "")

    def assert_allowed(self, model, method, *args, **kwargs):
        result, error = self.call(model, method, *args, **kwargs)
        self.assertIsNone(error, f"{method} on {model} must be allowed")
        return result


@tagged("post_install", "-at_install")
class TestAccessRules(AccessFixture, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()

    def mails(self, user):
        return self.env["crm.mail.message"].with_user(user).search([])

    def test_read_only_incoming(self):
        mails = self.mails(self.user_a)
        self.assertEqual(mails, self.x_in, "A reads X's incoming mail only")
        mail = self.x_in.with_user(self.user_a)
        self.assertEqual(mail.subject, "x in")
        with self.assertRaises(AccessError):
            mail.write({"review_state": "reviewed"})
        with self.assertRaises(AccessError):
            mail.unlink()
        with self.assertRaises(AccessError):
            self.y_in.with_user(self.user_a).read(["subject"])
        with self.assertRaises(AccessError):
            self.x_out.with_user(self.user_a).read(["subject"])

    def test_write_flag_allows_relink_only_by_rights(self):
        line = self.x.access_ids.filtered(lambda r: r.user_id == self.user_a)
        mail = self.x_in.with_user(self.user_a)
        other = self.env["res.partner"].create({"name": "Vektor"})
        with self.assertRaises(AccessError):
            mail.write({"partner_id": other.id})
        line.in_write = True
        mail.write({"partner_id": other.id})
        self.assertEqual(self.x_in.partner_id, other)
        with self.assertRaises(AccessError):
            mail.write({"account_id": self.y.id})
        with self.assertRaises(AccessError):
            mail.write({"direction": "outgoing"})

    def test_partner_relink_keeps_links_the_user_may_not_change(self):
        """ "Link stored mail" on a partner fills empty links for a reader
        but replaces an existing link only with the Edit right."""
        self.x_in.sudo().email_from = "ivan@vektor.example"
        unlinked = self.x_in.sudo().copy(
            {"partner_id": False, "subject": "x unlinked", "dedupe_key": False}
        )
        vektor = self.env["res.partner"].create(
            {"name": "Vektor", "is_company": True, "email": "ivan@vektor.example"}
        )
        vektor.with_user(self.user_a).action_crm_mail_relink()
        self.assertEqual(self.x_in.partner_id, self.customer, "A may only read it")
        self.assertEqual(unlinked.partner_id, vektor, "an empty link is filled")
        self.x.access_ids.filtered(lambda r: r.user_id == self.user_a).in_write = True
        vektor.with_user(self.user_a).action_crm_mail_relink()
        self.assertEqual(self.x_in.partner_id, vektor)

    def test_owner_has_every_right(self):
        mails = self.mails(self.user_c)
        self.assertEqual(mails, self.z_in)
        self.z_in.with_user(self.user_c).write({"review_state": "reviewed"})
        self.z_in.with_user(self.user_c).unlink()

    def test_send_without_read(self):
        Message = self.env["crm.mail.message"].with_user(self.user_d)
        draft = Message.create(
            {
                "account_id": self.x.id,
                "direction": "outgoing",
                "state": "draft",
                "subject": "offer",
                "author_user_id": self.user_d.id,
            }
        )
        draft.write({"subject": "offer v2"})
        self.assertEqual(Message.search([]), draft, "D sees his own mail only")
        with self.assertRaises(AccessError):
            Message.create(
                {
                    "account_id": self.y.id,
                    "direction": "outgoing",
                    "state": "draft",
                    "author_user_id": self.user_d.id,
                }
            )
        with self.assertRaises(AccessError):
            Message.create({"account_id": self.x.id, "direction": "incoming"})

    def test_manager_of_rights(self):
        Access = self.env["crm.mail.account.access"].with_user(self.user_b)
        line_a = Access.search(
            [("account_id", "=", self.x.id), ("user_id", "=", self.user_a.id)]
        )
        self.assertTrue(line_a, "B sees the lines of the account he manages")
        line_a.write({"in_write": True})
        user_e = new_test_user(self.env, login="mailuser_e", groups="base.group_user")
        Access.create({"account_id": self.x.id, "user_id": user_e.id, "in_read": True})
        with self.assertRaises(AccessError):
            Access.create(
                {"account_id": self.y.id, "user_id": user_e.id, "in_read": True}
            )
        own = Access.search([("user_id", "=", self.user_b.id)])
        with self.assertRaises(AccessError):
            own.write({"in_unlink": True})
        with self.assertRaises(AccessError):
            line_a.write({"out_send": True})  # B manages incoming rights only
        with self.assertRaises(AccessError):
            line_a.write({"account_id": self.y.id})
        line_b = self.x.access_ids.filtered(lambda r: r.user_id == self.user_b)
        as_a = self.env["crm.mail.account.access"].with_user(self.user_a)
        self.assertFalse(as_a.search([("user_id", "=", self.user_b.id)]))
        with self.assertRaises(AccessError):
            as_a.browse(line_b.id).unlink()

    def test_roles_set_the_flags_within_the_granters_rights(self):
        Access = self.env["crm.mail.account.access"]
        user_e = new_test_user(self.env, login="mailuser_e", groups="base.group_user")
        line = Access.create({"account_id": self.x.id, "user_id": user_e.id})
        self.assertEqual(line.role, "reader", "a new line reads incoming mail")
        line.role = "sender"
        self.assertEqual(
            (line.in_read, line.out_send, line.out_read, line.in_write),
            (True, True, True, False),
        )
        line.role = "manager"
        self.assertTrue(all(line[f] for f in ("in_manage", "out_manage", "out_unlink")))
        self.assertFalse(line.out_default, "a preference, not a right")
        line.write({"out_unlink": False})
        self.assertEqual(line.role, "custom")
        line.role = "reader"
        # B manages the incoming rights of X only: a Sender is beyond him
        as_b = line.with_user(self.user_b)
        with self.assertRaises(AccessError):
            as_b.role = "sender"
        self.assertEqual(line.role, "reader")

    def test_default_sender_unique(self):
        Access = self.env["crm.mail.account.access"]
        Access.create(
            {
                "account_id": self.y.id,
                "user_id": self.user_a.id,
                "out_send": True,
                "out_default": True,
            }
        )
        line = self.x.access_ids.filtered(lambda r: r.user_id == self.user_a)
        with self.assertRaises(ValidationError):
            line.write({"out_send": True, "out_default": True})

    def test_attachments_follow_the_mail(self):
        Attachment = self.env["ir.attachment"].with_user(self.user_a)
        self.assertEqual(
            self.att_x.with_user(self.user_a).datas, base64.b64encode(b"%PDF x")
        )
        with self.assertRaises(AccessError):
            self.att_y.with_user(self.user_a).read(["datas"])
        with self.assertRaises(AccessError):
            Attachment.create(
                {
                    "name": "evil.exe",
                    "raw": b"MZ",
                    "res_model": "crm.mail.message",
                    "res_id": self.x_in.id,
                }
            )

    def test_secrets(self):
        self.user_a.groups_id += self.env.ref("base.group_allow_export")
        account = self.x.with_user(self.user_a)
        with self.assertRaises(AccessError):
            account.read(["password"])
        with self.assertRaises(AccessError):
            account.export_data(["password"])
        self.assertEqual(
            self.x.with_user(self.env.ref("base.user_admin")).password, "secret-pw"
        )

    def test_partner_tab_counts_per_user(self):
        customer = self.customer
        self.assertEqual(customer.with_user(self.user_a).crm_mail_count, 1)
        self.assertEqual(customer.with_user(self.user_c).crm_mail_count, 1)
        self.assertEqual(customer.with_user(self.user_d).crm_mail_count, 0)
        admin = self.env.ref("base.user_admin")
        self.assertEqual(customer.with_user(admin).crm_mail_count, 4)
        self.assertEqual(
            customer.with_user(self.user_a).crm_mail_message_ids, self.x_in
        )


@tagged("post_install", "-at_install")
class TestAccessRpc(AccessFixture, HttpCase):
    """The same rights through XML-RPC and JSON-RPC, as a remote client sees them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_accounts()

    def test_xmlrpc(self):
        db = self.env.cr.dbname
        uid = self.xmlrpc_common.login(db, "mailuser_a", "mailuser_a")
        self.assertTrue(uid)
        call = self.xmlrpc_object.execute_kw
        found = call(
            db,
            uid,
            "mailuser_a",
            "crm.mail.message",
            "search_read",
            [[]],
            {"fields": ["subject"]},
        )
        self.assertEqual([m["subject"] for m in found], ["x in"])
        with self.assertRaises(xmlrpc.client.Fault):
            call(
                db,
                uid,
                "mailuser_a",
                "crm.mail.message",
                "write",
                [[self.x_in.id], {"partner_id": False}],
            )
        with self.assertRaises(xmlrpc.client.Fault):
            call(
                db,
                uid,
                "mailuser_a",
                "crm.mail.account",
                "read",
                [[self.x.id], ["password"]],
            )
        with self.assertRaises(xmlrpc.client.Fault):
            call(db, uid, "mailuser_a", "crm.mail.message", "read", [[self.y_in.id]])

    def test_jsonrpc_and_attachment_download(self):
        self.authenticate("mailuser_a", "mailuser_a")
        result = self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {
                "model": "crm.mail.message",
                "method": "search_read",
                "args": [[]],
                "kwargs": {"fields": ["subject"]},
            },
        )
        self.assertEqual([m["subject"] for m in result], ["x in"])
        ok = self.url_open(f"/web/content/{self.att_x.id}?download=true")
        self.assertEqual(ok.status_code, 200)
        self.assertEqual(ok.content, b"%PDF x")
        denied = self.url_open(f"/web/content/{self.att_y.id}?download=true")
        self.assertIn(denied.status_code, (403, 404))
