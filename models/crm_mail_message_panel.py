from odoo import api, models
from odoo.osv import expression

from .crm_mail_message_list import UNREAD_COUNT_CAP

#: search panel counters stop counting here and read "10000+", as Odoo's
#: lists do: an exact count of a million mails costs a full scan per value
PANEL_COUNT_CAP = 10000
#: the search panel fields counted that way
PANEL_FIELDS = ("review_state", "account_id", "folder_id")


class CrmMailMessage(models.Model):
    """Search panel counters that stay instant at a million mails."""

    _inherit = "crm.mail.message"

    @api.model
    def _search_panel_domain_image(
        self, field_name, domain, set_count=False, limit=False
    ):
        """Count each value apart, up to :data:`PANEL_COUNT_CAP` (then the
        value carries ``__count_more`` and the panel shows "10000+"); an
        account also carries the user's unread count there (``__unread``).

        Odoo groups the whole domain by the field, reading every matching
        mail; each value here stops at the cap, on its own index.
        """
        if not set_count or field_name not in PANEL_FIELDS:
            return super()._search_panel_domain_image(
                field_name, domain, set_count=set_count, limit=limit
            )
        field = self._fields[field_name]
        if field.type == "selection":
            candidates = field._description_selection(self.env)
        elif field_name == "folder_id":
            # the server folders of the accounts he reads (record rules);
            # "INBOX" of several accounts is told apart by its account
            folders = self.env["crm.mail.folder"].search([])
            several = len(folders.account_id) > 1
            candidates = [
                (
                    folder.id,
                    f"{folder.account_id.name} / {folder.name}"
                    if several
                    else folder.name,
                )
                for folder in folders
            ]
        else:
            Comodel = self.env[field.comodel_name].with_context(active_test=False)
            candidates = [(r.id, r.display_name) for r in Comodel.search([])]
        image = {}
        for value, label in candidates:
            count = self.search_count(
                expression.AND([domain, [(field_name, "=", value)]]),
                limit=PANEL_COUNT_CAP + 1,
            )
            if not count:
                continue
            image[value] = {
                "id": value,
                "display_name": label,
                "__count": min(count, PANEL_COUNT_CAP),
            }
            if count > PANEL_COUNT_CAP:
                image[value]["__count_more"] = True
            if field_name == "account_id":
                # a mail client's folder list: how much is unread there
                image[value]["__unread"] = self.search_count(
                    expression.AND(
                        [domain, [(field_name, "=", value), ("is_unread", "=", True)]]
                    ),
                    limit=UNREAD_COUNT_CAP + 1,
                )
            if limit and len(image) >= limit:
                break
        return image
