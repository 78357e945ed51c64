from odoo import api, fields, models

from .cron_limits import lock_for_change


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    crm_mail_fetch_interval = fields.Integer(
        string="Fetch Every",
        compute="_compute_crm_mail_cron",
        inverse="_inverse_crm_mail_cron",
        help="How often the mail is fetched.",
    )
    crm_mail_fetch_interval_type = fields.Selection(
        [("minutes", "Minutes"), ("hours", "Hours")],
        string="Fetch Interval Unit",
        compute="_compute_crm_mail_cron",
        inverse="_inverse_crm_mail_cron",
    )
    crm_mail_fetch_jobs = fields.Integer(
        string="Parallel Fetch Jobs",
        config_parameter="crm_mail_client.fetch_jobs",
        default=1,
        help="Cron jobs sharing the accounts, so that several cron workers "
        "fetch at once.",
    )
    crm_mail_max_per_run = fields.Integer(
        string="Mails per Run (new accounts)",
        config_parameter="crm_mail_client.max_per_run",
        default=50,
    )
    crm_mail_save_attachments = fields.Boolean(
        string="Save Attachments (new accounts)",
        config_parameter="crm_mail_client.save_attachments",
        default=True,
    )
    crm_mail_max_attachment_mb = fields.Integer(
        string="Max Attachment Size MB (new accounts)",
        config_parameter="crm_mail_client.max_attachment_mb",
        default=25,
    )
    crm_mail_max_send_mb = fields.Integer(
        string="Max Attachments per Sent Mail (MB)",
        config_parameter="crm_mail_client.max_send_mb",
        default=25,
        help="A mail whose attachments weigh more is refused before it is "
        "sent, with the reason (most servers refuse 25 MB and more). 0: no limit.",
    )
    crm_mail_initial_days = fields.Integer(
        string="First Sync Days (new accounts)",
        config_parameter="crm_mail_client.initial_days",
        default=30,
    )

    crm_mail_unknown_policy = fields.Selection(
        related="company_id.crm_mail_unknown_policy", readonly=False
    )
    crm_mail_public_domains = fields.Text(
        related="company_id.crm_mail_public_domains", readonly=False
    )
    crm_mail_lead_team_id = fields.Many2one(
        related="company_id.crm_mail_lead_team_id", readonly=False
    )
    crm_mail_lead_user_id = fields.Many2one(
        related="company_id.crm_mail_lead_user_id", readonly=False
    )

    def _fetch_cron(self):
        return self.env.ref(
            "crm_mail_client.ir_cron_fetch_mail", raise_if_not_found=False
        ).sudo()

    @api.depends("company_id")
    def _compute_crm_mail_cron(self):
        cron = self._fetch_cron()
        for settings in self:
            settings.crm_mail_fetch_interval = cron.interval_number if cron else 15
            settings.crm_mail_fetch_interval_type = (
                cron.interval_type if cron else "minutes"
            )

    def _inverse_crm_mail_cron(self):
        crons = self.env["crm.mail.account"]._fetch_crons()
        for settings in self[:1]:
            vals = {
                "interval_number": max(settings.crm_mail_fetch_interval, 1),
                "interval_type": settings.crm_mail_fetch_interval_type or "minutes",
            }
            # a running job's row is locked: only a real change touches it
            changed = crons.filtered(
                lambda cron, vals=vals: any(cron[k] != v for k, v in vals.items())
            )
            if changed:
                lock_for_change(changed)
                changed.write(vals)

    def set_values(self):
        res = super().set_values()
        self.env["crm.mail.account"]._set_fetch_jobs(self.crm_mail_fetch_jobs)
        return res

    def action_crm_mail_relink_all(self):
        return self.env["crm.mail.message"].action_relink_all()
