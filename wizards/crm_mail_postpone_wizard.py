from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models


class CrmMailPostponeWizard(models.TransientModel):
    """Put mails aside until a date: they come back as new."""

    _name = "crm.mail.postpone.wizard"
    _description = "Postpone Mail"

    message_ids = fields.Many2many("crm.mail.message", string="Mails")
    until = fields.Datetime(required=True, default=lambda self: self._default_until())

    @api.model
    def _default_until(self):
        """Tomorrow at 9:00 in the user's time zone."""
        tomorrow = fields.Date.context_today(self) + timedelta(days=1)
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")
        local = tz.localize(datetime.combine(tomorrow, time(9)))
        return local.astimezone(pytz.utc).replace(tzinfo=None)

    def action_apply(self):
        self.message_ids._postpone(self.until)
        return {"type": "ir.actions.act_window_close"}
