from odoo import fields, models


class CrmMailServerDeletion(models.Model):
    """A mail deleted in Odoo that the next fetch deletes on the server.

    Queued rather than done in ``unlink`` so that the server is only touched
    once the deletion is committed, and without a network call in a request.
    """

    _name = "crm.mail.server.deletion"
    _description = "Mail To Delete On Server"
    _log_access = False

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    folder_name = fields.Char()
    imap_uidvalidity = fields.Integer()
    imap_uid = fields.Integer()
    pop3_uidl = fields.Char()
