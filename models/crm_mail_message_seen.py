from odoo import api, fields, models
from odoo.tools import SQL


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

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not self.env.su:
            # a read mark only on a mail one may read (a shared mailbox's
            # server flag follows anybody's marks)
            records.message_id.check_access("read")
        return records

    @api.model
    def _mark_read(self, message_ids):
        """Mark these mails read for the current user: one statement for any
        number, and two tabs opening the same mail at once both succeed
        (an ORM create would meet the unique constraint)."""
        self.flush_model(["message_id", "user_id", "is_read"])
        self.env.cr.execute(
            SQL(
                """INSERT INTO crm_mail_message_seen (message_id, user_id, is_read)
                   SELECT message_id, %s, TRUE FROM unnest(%s::int[]) AS message_id
                   ON CONFLICT (message_id, user_id) DO UPDATE SET is_read = TRUE
                   WHERE NOT crm_mail_message_seen.is_read""",
                self.env.uid,
                list(message_ids),
            )
        )
        self.invalidate_model(["is_read"])
        Message = self.env["crm.mail.message"]
        Message.browse(message_ids).invalidate_recordset(["is_unread"])
        Message._queue_flag_push(message_ids)

    def _mark_unread(self):
        """Unread again; a row that remembers "show images" stays, unread."""
        message_ids = self.message_id.ids
        keep = self.filtered("show_images")
        keep.is_read = False
        (self - keep).unlink()
        self.env["crm.mail.message"]._queue_flag_push(message_ids)

    _sql_constraints = [
        ("uniq", "UNIQUE(message_id, user_id)", "A mail is read once per user.")
    ]
