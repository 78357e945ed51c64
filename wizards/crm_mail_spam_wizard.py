from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..mail_engine.patterns import PatternError, compile_pattern

MANAGER = "crm_mail_client.group_mail_manager"


def _is_plain_address(address):
    """Whether a blacklist entry of ``address`` blocks that address alone."""
    try:
        return compile_pattern(address).kind == "address"
    except PatternError:
        return False


class CrmMailSpamWizard(models.TransientModel):
    """*Mark as Spam*: the mails go into the Spam view and, if the user
    wants, into the server's spam folder; an administrator may also
    blacklist their senders."""

    _name = "crm.mail.spam.wizard"
    _description = "Mark as Spam"

    message_ids = fields.Many2many("crm.mail.message", string="Mails", readonly=True)
    move_on_server = fields.Boolean(
        string="Move to the Server's Spam Folder",
        default=True,
        help="Also on the server (IMAP): the server's own spam filter learns "
        "from it, and other mail programs see it there.",
    )
    movable_count = fields.Integer(compute="_compute_counts")
    blacklist = fields.Boolean(
        string="Blacklist the Senders",
        help="Mail administrators: later mail from these addresses is not stored.",
    )
    senders = fields.Char(compute="_compute_counts")

    @api.depends("message_ids")
    def _compute_counts(self):
        for wizard in self:
            # only what the user may read: the ids are the caller's to choose
            # (in a form, the records are new ones: their origins are checked)
            mails = wizard.message_ids._origin._filtered_access("read").sudo()
            junk = {account: account._junk_folder() for account in mails.account_id}
            wizard.movable_count = len(
                mails.filtered(
                    lambda m, junk=junk: (
                        m.folder_id
                        and m.imap_uid
                        and junk[m.account_id]
                        and m.folder_id != junk[m.account_id]
                    )
                )
            )
            wizard.senders = ", ".join(
                sorted(set(mails.mapped("email_from")) - {False})
            )

    def action_apply(self):
        self.ensure_one()
        if self.blacklist and not self.env.user.has_group(MANAGER):
            raise AccessError(
                self.env._("Only mail administrators may blacklist senders.")
            )
        mails = self.message_ids
        moved = mails._mark_spam(move=self.move_on_server)
        message = self.env._("In Spam: %(count)s.", count=len(mails))
        if moved:
            message += " " + self.env._(
                "On the server: %(count)s moved to the spam folder.", count=moved
            )
        if self.blacklist:
            Blacklist = self.env["crm.mail.blacklist"]
            listed = set(
                Blacklist.search([("account_id", "=", False)]).mapped("pattern")
            )
            # an address only: a sender writing from "*@gmail.com" must not
            # become a wildcard that blocks everybody
            new = sorted(
                address
                for address in set(mails.mapped("email_from")) - listed - {False}
                if _is_plain_address(address)
            )
            Blacklist.create([{"pattern": address} for address in new])
            message += " " + self.env._("Blacklisted: %(count)s.", count=len(new))
        return mails._done_notification(message)
