from odoo import api, fields, models

from ..mail_engine import imap_session
from .imap_uid_field import ImapUid


class CrmMailFolder(models.Model):
    """An IMAP folder of an account and its fetch checkpoint."""

    _name = "crm.mail.folder"
    _description = "Mail Folder"
    _order = "account_id, sequence, name"

    account_id = fields.Many2one(
        "crm.mail.account", required=True, ondelete="cascade", index=True
    )
    name = fields.Char(required=True, readonly=True)
    sequence = fields.Integer(default=10)
    special_use = fields.Char(readonly=True, help="IMAP special-use flag, e.g. \\Sent.")
    special_use_label = fields.Selection(
        [
            ("sent", "Sent"),
            ("drafts", "Drafts"),
            ("trash", "Trash"),
            ("junk", "Junk / Spam"),
            ("archive", "Archive"),
            ("all", "All mail"),
            ("flagged", "Flagged"),
            ("important", "Important"),
        ],
        string="Kind",
        compute="_compute_special_use_label",
        help="What the server says the folder is for (its special-use flag).",
    )

    @api.depends("special_use")
    def _compute_special_use_label(self):
        labels = dict(self._fields["special_use_label"].selection)
        for folder in self:
            flag = (folder.special_use or "").lstrip("\\").lower()
            folder.special_use_label = flag if flag in labels else False

    to_fetch = fields.Boolean(
        help="Fetch this folder. When no folder is chosen, every folder but "
        "drafts, trash, spam and aggregate folders is fetched."
    )
    uidvalidity = ImapUid(string="UIDVALIDITY", readonly=True, copy=False)
    last_uid = ImapUid(string="Last UID", readonly=True, copy=False)
    present = fields.Boolean(
        default=True, readonly=True, help="Seen in the last listing."
    )
    highest_modseq = ImapUid(
        string="HIGHESTMODSEQ",
        readonly=True,
        copy=False,
        help="The server's change counter of the folder at the last sync "
        "of read marks (RFC 7162): what changed after it is asked for.",
    )
    sync_countdown = fields.Integer(
        readonly=True,
        copy=False,
        help="Runs left before the next full comparison of this folder's "
        "messages with the server (servers without QRESYNC).",
    )
    backlog = fields.Boolean(
        readonly=True,
        copy=False,
        help="The last fetch of this folder stopped with mail still to take: "
        "a renumbering now starts over from the first-sync window.",
    )

    _sql_constraints = [
        (
            "name_uniq",
            "UNIQUE(account_id, name)",
            "A folder is listed once per account.",
        )
    ]

    @api.model
    def _sync_from_server(self, account, folder_infos):
        """Record the folders the server listed; pre-select the usual ones.

        :param account: a ``crm.mail.account`` record
        :param list folder_infos: ``imap_session.FolderInfo`` from the server
        """
        existing = {f.name: f for f in account.sudo().folder_ids}
        default = set(imap_session.default_fetch_folders(folder_infos))
        vals_list = []
        for info in folder_infos:
            if not info.selectable:
                continue
            folder = existing.pop(info.name, None)
            if folder:
                folder.write({"special_use": info.special_use, "present": True})
            else:
                vals_list.append(
                    {
                        "account_id": account.id,
                        "name": info.name,
                        "special_use": info.special_use,
                        # new folders are fetched unless drafts, trash, spam
                        # or aggregates; the user may untick any of them
                        "to_fetch": info.name in default,
                        "sequence": 0 if info.name.upper() == "INBOX" else 10,
                    }
                )
        self.sudo().create(vals_list)
        # folders gone from the server keep their checkpoint (they may return)
        for folder in existing.values():
            folder.present = False

    def _fetch_names(self, account, folder_infos):
        """Names of the folders to fetch for an account.

        :return: the chosen folders, or the default set when none is chosen
        """
        chosen = account.folder_ids.filtered(lambda f: f.to_fetch and f.present)
        names = chosen.mapped("name") or imap_session.default_fetch_folders(
            folder_infos
        )
        if account.fetch_spam:
            # into the Spam view (the mail of a spam folder is spam)
            names += [f.name for f in account._junk_folder() if f.name not in names]
        return names
