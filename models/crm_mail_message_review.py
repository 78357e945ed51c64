from odoo import api, fields, models
from odoo.exceptions import UserError

from ..mail_engine.mime_html import block_remote_images


class CrmMailMessage(models.Model):
    """Review flags (reviewed, postponed, on control) and safe display."""

    _inherit = "crm.mail.message"

    postponed_until = fields.Datetime(
        readonly=True, copy=False, help="The mail comes back as new at this time."
    )
    control_since = fields.Datetime(
        readonly=True,
        copy=False,
        help="Waiting for an answer since; cleared when the answer is fetched.",
    )
    show_remote_images = fields.Boolean(
        compute="_compute_show_remote_images",
        help="Remote images are blocked until a reader asks for them, for "
        "him only: they tell the sender when and where the mail was opened.",
    )
    body_display = fields.Html(
        string="Body Shown",
        compute="_compute_body_display",
        sanitize=True,
        sanitize_style=True,
    )
    remote_image_count = fields.Integer(compute="_compute_body_display")

    @api.depends_context("uid")
    def _compute_show_remote_images(self):
        shown = self.env["crm.mail.message.seen"].search(
            [
                ("message_id", "in", self.ids),
                ("user_id", "=", self.env.uid),
                ("show_images", "=", True),
            ]
        )
        shown_ids = set(shown.message_id.ids)
        for mail in self:
            mail.show_remote_images = mail.id in shown_ids

    @api.depends("body_html", "show_remote_images")
    @api.depends_context("uid")
    def _compute_body_display(self):
        for mail in self:
            body, blocked = block_remote_images(mail.body_html)
            if mail.show_remote_images:
                mail.body_display, mail.remote_image_count = mail.body_html, 0
            else:
                mail.body_display, mail.remote_image_count = body, blocked

    # ------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        mails = super().create(vals_list)
        mails.filtered(lambda m: m.direction == "incoming")._clear_control()
        return mails

    def write(self, vals):
        res = super().write(vals)
        if vals.get("parent_id") or vals.get("thread_root_id"):
            # a late parent (orphan adoption) is an answer too
            self.filtered(lambda m: m.direction == "incoming")._clear_control()
        return res

    def _clear_control(self):
        """An answer arrived: our mails on control in its thread, written
        before it, are done."""
        latest = {}  # thread root id -> date of its latest answer here
        for answer in self:
            root = (answer.thread_root_id or answer.parent_id).id
            if root and answer.date:
                latest[root] = max(answer.date, latest.get(root, answer.date))
        if not latest:
            return

        def answered(mail):
            # the latest answer of its thread, or to itself
            when = latest.get((mail.thread_root_id or mail).id, latest.get(mail.id))
            return when is not None and mail.date <= when

        waiting = (
            self.sudo()
            .search(
                [
                    ("review_state", "=", "control"),
                    ("direction", "=", "outgoing"),
                    "|",
                    ("id", "in", list(latest)),
                    ("thread_root_id", "in", list(latest)),
                ]
            )
            .filtered(answered)
        )
        waiting.write({"review_state": "reviewed", "control_since": False})

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def _set_review(self, vals):
        # a flag, like a read mark: reading the mail is enough to set it
        self.check_access("read")
        self.sudo().write(vals)

    def action_mark_reviewed(self):
        self._set_review(
            {
                "review_state": "reviewed",
                "postponed_until": False,
                "control_since": False,
            }
        )

    def action_mark_new(self):
        self._set_review(
            {"review_state": "new", "postponed_until": False, "control_since": False}
        )

    def action_put_on_control(self):
        if self.filtered(lambda m: m.direction != "outgoing"):
            raise UserError(
                self.env._("Only outgoing mail can wait for an answer on control.")
            )
        self._set_review(
            {
                "review_state": "control",
                "control_since": fields.Datetime.now(),
                "postponed_until": False,
            }
        )

    def action_postpone(self):
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Postpone"),
            "res_model": "crm.mail.postpone.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_message_ids": self.ids},
        }

    def action_show_remote_images(self):
        """Show the remote images of these mails to the current user (and
        mark them read: he is reading them)."""
        self.action_mark_read()
        self._my_seen().show_images = True
        self.invalidate_recordset(["show_remote_images", "body_display"])

    def _postpone(self, until):
        if until <= fields.Datetime.now():
            raise UserError(self.env._("Choose a time in the future."))
        self._set_review(
            {
                "review_state": "postponed",
                "postponed_until": until,
                "control_since": False,
            }
        )

    # ------------------------------------------------------------
    # CRON
    # ------------------------------------------------------------

    @api.model
    def _cron_postponed_due(self):
        """Postponed mails whose time has come are new (and unread) again."""
        due = self.sudo().search(
            [
                ("review_state", "=", "postponed"),
                ("postponed_until", "<=", fields.Datetime.now()),
            ]
        )
        due.write({"review_state": "new", "postponed_until": False})
        self.env["crm.mail.message.seen"].sudo().search(
            [("message_id", "in", due.ids)]
        )._mark_unread()
        return due
