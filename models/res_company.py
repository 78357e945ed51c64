from odoo import fields, models

UNKNOWN_POLICY = [
    ("none", "Do nothing"),
    ("contact", "Create contact and company"),
    ("lead", "Create contact, company and lead"),
]


class ResCompany(models.Model):
    """How mail is matched to partners (set by the setup wizard)."""

    _inherit = "res.company"

    crm_mail_contact_email_fields = fields.Char(
        string="Contact Email Fields",
        default="email",
        help="Comma-separated res.partner fields holding the addresses of persons.",
    )
    crm_mail_contact_name_field = fields.Char(
        string="Contact Name Field", default="name"
    )
    crm_mail_contact_company_field = fields.Char(
        string="Contact Company Link", default="parent_id"
    )
    crm_mail_company_email_fields = fields.Char(
        string="Company Email Fields",
        default="email",
        help="Comma-separated res.partner fields holding the addresses of companies.",
    )
    crm_mail_company_contact_field = fields.Char(
        string="Company Main Contact Field",
        help="A many2one to res.partner on companies: their main contact.",
    )
    crm_mail_unknown_policy = fields.Selection(
        UNKNOWN_POLICY,
        string="Mail From Unknown Senders",
        default="contact",
        required=True,
    )
    crm_mail_lead_team_id = fields.Many2one("crm.team", string="Team of New Leads")
    crm_mail_lead_user_id = fields.Many2one(
        "res.users", string="Salesperson of New Leads"
    )
    crm_mail_public_domains = fields.Text(
        string="More Public Mail Domains",
        help="One domain per line, besides the built-in list (gmail.com, mail.ru, "
        "yandex.ru, ...): senders from these get a contact but no company.",
    )
    crm_mail_setup_done = fields.Boolean(string="Mail Setup Done")

    def _crm_mail_field_list(self, fname):
        return [f.strip() for f in (self[fname] or "").split(",") if f.strip()]
