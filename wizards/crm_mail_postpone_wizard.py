from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models

#: hours "later today" puts a mail aside for
LATER_TODAY_HOURS = 3


class CrmMailPostponeWizard(models.TransientModel):
    """Put mails aside until a date: they come back as new."""

    _name = "crm.mail.postpone.wizard"
    _description = "Postpone Mail"

    message_ids = fields.Many2many("crm.mail.message", string="Mails")
    preset = fields.Selection(
        [
            ("later", "Later today"),
            ("tomorrow", "Tomorrow, 9:00"),
            ("monday", "Next Monday, 9:00"),
            ("custom", "Pick a date"),
        ],
        string="When",
        default="tomorrow",
        required=True,
    )
    until = fields.Datetime(
        required=True, default=lambda self: self._preset_until("tomorrow")
    )

    @api.model
    def _preset_until(self, preset):
        """The moment a preset stands for, in the user's time zone.

        :param preset: ``later``, ``tomorrow`` or ``monday``
        :return: a naive UTC datetime
        """
        now = fields.Datetime.now()
        if preset == "later":
            return now + timedelta(hours=LATER_TODAY_HOURS)
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")
        today = pytz.utc.localize(now).astimezone(tz).date()
        if preset == "monday":
            day = today + timedelta(days=7 - today.weekday())
        else:
            day = today + timedelta(days=1)
        local = tz.localize(datetime.combine(day, time(9)))
        return local.astimezone(pytz.utc).replace(tzinfo=None)

    @api.onchange("preset")
    def _onchange_preset(self):
        if self.preset != "custom":
            self.until = self._preset_until(self.preset)

    def action_apply(self):
        self.message_ids._postpone(self.until)
        return {"type": "ir.actions.act_window_close"}
