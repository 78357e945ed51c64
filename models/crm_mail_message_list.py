import html
import re

from odoo import api, fields, models

#: characters of the body a list row shows after the subject
SNIPPET_CHARS = 160
#: the unread count on the Inbox menu stops here ("999+"): a new user of a
#: three-year mailbox has every old mail unread, and counting them all on
#: every page would cost a scan of hundreds of thousands of rows
UNREAD_COUNT_CAP = 999
#: what the Inbox shows (its action's domain)
INBOX_DOMAIN = [("direction", "=", "incoming"), ("state", "=", "received")]


_INVISIBLE_HTML = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")


def make_snippet(body_text, body_html):
    """The start of a mail's text on one line, without quoted lines.

    :param body_text: the plain text part (may be empty)
    :param body_html: the sanitized HTML part, read when there is no text
    :return: at most :data:`SNIPPET_CHARS` characters
    """
    text = body_text or ""
    if not text and body_html:
        # tags become spaces (a block ends a word), entities their character
        text = html.unescape(_TAG.sub(" ", _INVISIBLE_HTML.sub(" ", body_html)))
    lines = (line.strip() for line in text.splitlines())
    words = " ".join(line for line in lines if line and not line.startswith(">"))
    words = " ".join(words.split())
    if len(words) > SNIPPET_CHARS:
        words = words[: SNIPPET_CHARS - 1].rstrip() + "…"
    return words


class CrmMailMessage(models.Model):
    """A list that reads like a mail client's: the start of the text after
    the subject, unread counts per user, the account column only for
    readers of several accounts."""

    _inherit = "crm.mail.message"

    snippet = fields.Char(
        compute="_compute_snippet",
        store=True,
        readonly=True,
        help="The start of the text, shown after the subject in lists.",
    )

    @api.depends("body_text", "body_html")
    def _compute_snippet(self):
        for message in self:
            message.snippet = make_snippet(message.body_text, message.body_html)

    # ------------------------------------------------------------
    # UNREAD COUNTS
    # ------------------------------------------------------------

    @api.model
    def get_unread_counts(self):
        """The current user's unread mail in the Inbox, for the menu.

        :return: ``{"inbox": n, "more": bool}``; ``more`` when the count
            stopped at :data:`UNREAD_COUNT_CAP`
        """
        if not self.env.user.has_group("crm_mail_client.group_mail_user"):
            return {"inbox": 0, "more": False}
        count = self.search_count(
            INBOX_DOMAIN + [("is_unread", "=", True)], limit=UNREAD_COUNT_CAP + 1
        )
        return {
            "inbox": min(count, UNREAD_COUNT_CAP),
            "more": count > UNREAD_COUNT_CAP,
        }

    def _notify_unread_changed(self):
        """Tell the user's open tabs that his unread count changed (the menu
        counts again)."""
        self.env.user._bus_send("crm_mail_client/unread_changed", {})

    def action_mark_read(self):
        res = super().action_mark_read()
        self._notify_unread_changed()
        return res

    def action_mark_unread(self):
        res = super().action_mark_unread()
        self._notify_unread_changed()
        return res

    # ------------------------------------------------------------
    # VIEWS
    # ------------------------------------------------------------

    @api.model
    def _reads_one_account(self):
        return (
            self.env["crm.mail.account"]
            .with_context(active_test=False)
            .search_count([], limit=2)
            < 2
        )

    def _get_view_cache_key(self, view_id=None, view_type="form", **options):
        key = super()._get_view_cache_key(view_id, view_type, **options)
        if view_type == "list":
            key += (self._reads_one_account(),)
        return key

    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == "list" and self._reads_one_account():
            # one account: the same name on every row says nothing
            for node in arch.xpath("//field[@name='account_id']"):
                node.set("column_invisible", "True")
        return arch, view
