from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.res_company import UNKNOWN_POLICY

CHAR_FIELD = [
    ("model", "=", "res.partner"),
    ("ttype", "=", "char"),
    ("store", "=", True),
]
LINK_FIELD = [
    ("model", "=", "res.partner"),
    ("ttype", "=", "many2one"),
    ("relation", "=", "res.partner"),
    ("store", "=", True),
]


class CrmMailSetupWizard(models.TransientModel):
    """Step by step: which partner fields hold addresses, and what to do with
    mail from unknown senders. Saved on the company."""

    _name = "crm.mail.setup.wizard"
    _description = "Mail Setup Wizard"

    step = fields.Selection(
        [
            ("contacts", "Contacts"),
            ("companies", "Companies"),
            ("unknown", "Unknown Senders"),
        ],
        default="contacts",
        required=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    contact_email_field_ids = fields.Many2many(
        "ir.model.fields",
        "crm_mail_setup_contact_email_rel",
        string="Contact Email Fields",
        domain=CHAR_FIELD,
        default=lambda self: self._default_fields("crm_mail_contact_email_fields"),
    )
    contact_name_field_id = fields.Many2one(
        "ir.model.fields",
        string="Contact Name Field",
        domain=CHAR_FIELD,
        default=lambda self: self._default_fields("crm_mail_contact_name_field")[:1],
    )
    contact_company_field_id = fields.Many2one(
        "ir.model.fields",
        string="Link to the Company",
        domain=LINK_FIELD,
        default=lambda self: self._default_fields("crm_mail_contact_company_field")[:1],
    )
    company_email_field_ids = fields.Many2many(
        "ir.model.fields",
        "crm_mail_setup_company_email_rel",
        string="Company Email Fields",
        domain=CHAR_FIELD,
        default=lambda self: self._default_fields("crm_mail_company_email_fields"),
    )
    company_contact_field_id = fields.Many2one(
        "ir.model.fields",
        string="Main Contact Field",
        domain=LINK_FIELD,
        default=lambda self: self._default_fields("crm_mail_company_contact_field")[:1],
    )
    unknown_policy = fields.Selection(
        UNKNOWN_POLICY,
        string="Mail From Unknown Senders",
        default=lambda self: self.env.company.crm_mail_unknown_policy,
        required=True,
    )
    lead_team_id = fields.Many2one(
        "crm.team", default=lambda self: self.env.company.crm_mail_lead_team_id
    )
    lead_user_id = fields.Many2one(
        "res.users", default=lambda self: self.env.company.crm_mail_lead_user_id
    )
    public_domains = fields.Text(
        string="More Public Mail Domains",
        default=lambda self: self.env.company.crm_mail_public_domains,
    )

    @api.model
    def _default_fields(self, company_field):
        names = self.env.company._crm_mail_field_list(company_field)
        fields_ = self.env["ir.model.fields"].search(
            [("model", "=", "res.partner"), ("name", "in", names)]
        )
        return fields_.sorted(lambda f: names.index(f.name))

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Mail Setup"),
        }

    def action_next(self):
        self._check_choices()
        order = ["contacts", "companies", "unknown"]
        self.step = order[min(order.index(self.step) + 1, 2)]
        return self._reopen()

    def action_back(self):
        order = ["contacts", "companies", "unknown"]
        self.step = order[max(order.index(self.step) - 1, 0)]
        return self._reopen()

    def _check_choices(self):
        """Refuse fields of the wrong kind (the UI filters them; RPC may not)."""
        for field in (
            self.contact_email_field_ids
            | self.company_email_field_ids
            | (self.contact_name_field_id)
        ):
            if field.model != "res.partner" or field.ttype != "char":
                raise UserError(
                    self.env._(
                        "%s is not a text field of contacts.", field.field_description
                    )
                )
        for field in self.contact_company_field_id | self.company_contact_field_id:
            if field.ttype != "many2one" or field.relation != "res.partner":
                raise UserError(
                    self.env._(
                        "%s is not a link to a contact or company.",
                        field.field_description,
                    )
                )
        if not self.contact_email_field_ids or not self.company_email_field_ids:
            raise UserError(self.env._("Choose at least one email field."))

    def action_apply(self):
        """Save the choices on the company; re-index addresses if they changed."""
        self._check_choices()
        company = self.company_id
        before = (
            company.crm_mail_contact_email_fields,
            company.crm_mail_company_email_fields,
        )
        company.sudo().write(
            {
                "crm_mail_contact_email_fields": ",".join(
                    self.contact_email_field_ids.mapped("name")
                ),
                "crm_mail_contact_name_field": self.contact_name_field_id.name
                or "name",
                "crm_mail_contact_company_field": self.contact_company_field_id.name
                or "parent_id",
                "crm_mail_company_email_fields": ",".join(
                    self.company_email_field_ids.mapped("name")
                ),
                "crm_mail_company_contact_field": self.company_contact_field_id.name
                or False,
                "crm_mail_unknown_policy": self.unknown_policy,
                "crm_mail_lead_team_id": self.lead_team_id.id,
                "crm_mail_lead_user_id": self.lead_user_id.id,
                "crm_mail_public_domains": self.public_domains,
                "crm_mail_setup_done": True,
            }
        )
        after = (
            company.crm_mail_contact_email_fields,
            company.crm_mail_company_email_fields,
        )
        if before != after:
            self.env["crm.mail.address"]._rebuild()
        return {"type": "ir.actions.act_window_close"}
