from email.utils import formataddr

from lxml import etree, html

from odoo.tests import tagged

from .common import MailServerCase, make_mail

# what a browser would run if it reached the page unescaped
XSS_HTML = [
    "<script>alert('s1')</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=\"alert('s2')\">",
    "<body onload=alert('s3')>",
    "<a href=\"javascript:alert('s4')\">click</a>",
    "<a href=\"  JaVaScRiPt:alert('s5')\">click</a>",
    "<a href=\"jav&#x09;ascript:alert('s6')\">click</a>",
    "<a href=\"vbscript:msgbox('s7')\">click</a>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>',
    "<svg onload=\"alert('s8')\"><script>alert('s9')</script></svg>",
    "<svg><a xlink:href=\"javascript:alert('s10')\"><text>x</text></a></svg>",
    "<div style=\"width: expression(alert('s11'))\">css</div>",
    "<div style=\"background:url(javascript:alert('s12'))\">css</div>",
    "<style>body{background:url('javascript:alert(13)')}</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(\'s14\')">',
    '<iframe src="https://evil.example/"></iframe>',
    "<iframe srcdoc=\"<script>alert('s15')</script>\"></iframe>",
    '<base href="https://evil.example/">',
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<form action="https://evil.example/"><input name=p>'
    "<button formaction=\"javascript:alert('s16')\">go</button></form>",
    '<math><maction actiontype="statusline" xlink:href="javascript:alert(17)">'
    "x</maction></math>",
    "<details open ontoggle=alert('s18')>",
    "<isindex type=image src=1 onerror=alert('s19')>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('s20')>\"></noscript>",
]
XSS_TEXT = "<script>alert('t')</script><img src=x onerror=alert('t')>'&"
BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "livescript:")
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background"}
DANGEROUS_TAGS = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "meta",
    "base",
    "link",
    "form",
}
# inert once their handlers and scripts are gone: the sanitizer may keep them


@tagged("post_install", "-at_install")
class TestHostileInput(MailServerCase):
    """Hostile mails through the real fetch: nothing executable survives."""

    def fetch(self):
        account = self.make_account()
        account._fetch_locked()
        return self.env["crm.mail.message"].search([("account_id", "=", account.id)])

    def assert_inert(self, body):
        """``body`` (stored HTML) holds no way to run script."""
        if not body:
            return
        root = html.fragment_fromstring(str(body), create_parent="div")
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue  # comments, processing instructions
            tag = etree.QName(element).localname.lower()
            self.assertNotIn(tag, DANGEROUS_TAGS, body)
            for name, value in element.attrib.items():
                name = etree.QName(name).localname.lower() if "}" in name else name
                self.assertFalse(name.lower().startswith("on"), f"{name} in {body}")
                self.assertNotEqual(name.lower(), "srcdoc", body)
                clean = "".join(value.split()).lower()
                if name.lower() in URL_ATTRS or ":" in name:
                    self.assertFalse(clean.startswith(BAD_SCHEMES), f"{name}={value}")
                if name.lower() == "style":
                    self.assertNotIn("expression(", clean)
                    self.assertNotIn("javascript:", clean)
            if tag == "style":
                self.assertNotIn("javascript:", (element.text or "").lower())
        lowered = str(body).lower()
        for needle in ("<script", "javascript:", "vbscript:", "onerror=", "onload="):
            self.assertNotIn(needle, lowered)

    def test_xss_in_html_bodies(self):
        for index, payload in enumerate(XSS_HTML):
            self.deliver(
                make_mail(
                    subject=f"xss {index}",
                    html=f"<html><body><p>before</p>{payload}<p>after</p></body></html>",
                )
            )
        # all payloads in one body as well
        self.deliver(make_mail(subject="xss all", html="".join(XSS_HTML)))
        mails = self.fetch()
        self.assertEqual(len(mails), len(XSS_HTML) + 1)
        for mail in mails:
            with self.subTest(subject=mail.subject):
                self.assertNotEqual(mail.state, "quarantined")
                self.assert_inert(mail.body_html)

    def test_xss_in_text_fields(self):
        self.deliver(
            make_mail(
                subject=f"Offer {XSS_TEXT}",
                sender=formataddr((XSS_TEXT, "evil@client.example")),
                html="<p>body</p>",
                attachments=[
                    (f"{XSS_TEXT}.pdf", b"%PDF-1.4", "application/pdf"),
                    (
                        "<svg onload=alert(1)>.svg",
                        b"<svg onload='alert(1)'/>",
                        "image/svg+xml",
                    ),
                    ("..\\..\\x.html", b"<script>alert(1)</script>", "text/html"),
                ],
            )
        )
        mail = self.fetch()
        self.assertEqual(len(mail), 1)
        Message = self.env["crm.mail.message"]
        # plain text fields: the web client renders them escaped
        for name in ("subject", "from_name", "email_from"):
            self.assertEqual(Message._fields[name].type, "char", name)
        self.assertEqual(self.env["ir.attachment"]._fields["name"].type, "char")
        # kept as the text that was sent, not as markup and not executed
        self.assertIn("<script>", mail.subject)
        self.assertIn("onerror", mail.from_name)
        self.assertEqual(len(mail.attachment_ids), 3)
        for attachment in mail.attachment_ids:
            self.assertNotIn("/", attachment.name)
            self.assertNotIn("\x00", attachment.name)
        self.assert_inert(mail.body_html)
        # a display through the ORM's HTML escaping keeps it text
        self.assertIn("&lt;script&gt;", str(self._escape(mail.subject)))

    def _escape(self, value):
        from markupsafe import escape

        return escape(value)

    def test_remote_content_and_cids(self):
        self.deliver(
            make_mail(
                html='<p>hi</p><img src="https://tracker.example/pixel.gif?u=1">'
                '<img src="cid:logo@x" onerror="alert(1)">'
                '<a href="https://ok.example/">link</a>',
            )
        )
        mail = self.fetch()
        self.assert_inert(mail.body_html)
        self.assertIn("https://ok.example/", mail.body_html)

    def test_remote_images_blocked_however_spelt(self):
        """Issue #18 item 23: URLs without slashes and CSS image-set() pass
        Odoo's sanitizer; no tracking pixel may load on open, in a reply's
        quote, a lead's description or a chatter note."""
        self.deliver(
            make_mail(
                html='<p>offer</p><img src="http:evil.test/open.gif" alt="logo">'
                "<div style=\"background-image: image-set('https://evil.test/i.png'"
                ' 1x); color: red">styled</div>'
                '<table background="http:evil.test/bg.png"><tr><td>t</td></tr>'
                "</table>"
            )
        )
        mail = self.fetch()
        self.assertIn("evil.test", str(mail.body_html), "stored as received")
        self.assertNotIn("evil.test", str(mail.body_display))
        # the field's sanitizer drops table@background; the other two stay
        self.assertEqual(mail.remote_image_count, 2, mail.body_html)
        quote = (
            self.env["crm.mail.compose"]
            .with_context(crm_mail_compose_mode="reply", default_parent_id=mail.id)
            .default_get(["body", "parent_id"])["body"]
        )
        self.assertIn("offer", quote)
        self.assertNotIn("evil.test", quote)
        lead = self.env["crm.lead"].browse(mail.action_create_lead()["res_id"])
        self.assertIn("offer", str(lead.description))
        self.assertNotIn("evil.test", str(lead.description))
        note = mail._log_note_on(lead)
        self.assertNotIn("evil.test", str(note.body))

    def test_views_never_show_body_html(self):
        Message = self.env["crm.mail.message"]
        arch = Message.get_views([(False, "list")])["views"]["list"]["arch"]
        tree = etree.fromstring(arch)
        self.assertFalse(tree.xpath("//field[@name='body_html']"), arch)
        for action in (
            "crm_mail_client.crm_mail_message_action",
            "crm_mail_client.crm_mail_message_action_inbox",
        ):
            view = self.env.ref(action).view_id
            if view and view.type == "list":
                arch = Message.get_views([(view.id, "list")])["views"]["list"]["arch"]
                self.assertNotIn('name="body_html"', arch)
        partner_arch = self.env["res.partner"].get_views([(False, "form")])["views"][
            "form"
        ]["arch"]
        tree = etree.fromstring(partner_arch)
        tabs = tree.xpath("//field[@name='crm_mail_message_ids']")
        self.assertTrue(tabs, "the partner form has the Mail tab")
        for tab in tabs:
            self.assertFalse(tab.xpath(".//field[@name='body_html']"))
            self.assertTrue(tab.xpath(".//list"), "the tab shows a list")
