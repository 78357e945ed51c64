from odoo import fields, models


class CrmMailMessageSeen(models.Model):
    """Per-user read mark of a mail (and his "show images"): reading a mail
    needs no right to edit it."""

    _name = "crm.mail.message.seen"
    _description = "Mail Read Mark"
    _log_access = False

    message_id = fields.Many2one(
        "crm.mail.message", required=True, ondelete="cascade", index=True
    )
    user_id = fields.Many2one(
        "res.users",
        required=True,
        ondelete="cascade",
        default=lambda self: self.env.uid,
        index=True,
    )
    is_read = fields.Boolean(default=True, index=True)
    show_images = fields.Boolean(help="The user asked to see the remote images.")

    def _mark_unread(self):
        """Unread again; a row that remembers "show images" stays, unread."""
        keep = self.filtered("show_images")
        keep.is_read = False
        (self - keep).unlink()

    _sql_constraints = [
        ("uniq", "UNIQUE(message_id, user_id)", "A mail is read once per user.")
    ]
