from odoo import api, models


class IrAttachment(models.Model):
    """The attachments of a CRM mail are part of the mail.

    Odoo lets whoever may write a record add, change or remove its
    attachments; for a mail that is more than a relink: a received or sent
    mail keeps the files it came with, and an unsent one is changed by its
    author only, while he may send from its account (like its body).
    """

    _inherit = "ir.attachment"

    def check(self, mode, values=None):
        res = super().check(mode, values=values)
        if mode not in ("create", "write", "unlink") or self.env.is_superuser():
            return res
        Message = self.env["crm.mail.message"]
        if Message._is_mail_manager():
            return res
        mail_ids = set()
        if self:
            self.flush_model(["res_model", "res_id"])
            self.env.cr.execute(
                "SELECT res_id FROM ir_attachment WHERE id IN %s "
                "AND res_model = 'crm.mail.message' AND res_id IS NOT NULL",
                [tuple(self.ids)],
            )
            mail_ids.update(row[0] for row in self.env.cr.fetchall())
        if values and values.get("res_model") == "crm.mail.message":
            mail_ids.add(values.get("res_id"))
        mails = Message.browse([mid for mid in mail_ids if mid]).exists()
        if mails:
            mails._check_attachment_change()
        return res

    # the file names of a mail are searched with it (crm_mail_message_search)

    def _crm_mail_ids(self):
        return {
            att.res_id
            for att in self.sudo()
            if att.res_model == "crm.mail.message" and att.res_id
        }

    @api.model_create_multi
    def create(self, vals_list):
        attachments = super().create(vals_list)
        if not self.env.context.get("crm_mail_attachment_names_set"):
            self.env["crm.mail.message"]._update_attachment_names(
                attachments._crm_mail_ids()
            )
        return attachments

    def write(self, vals):
        before = (
            self._crm_mail_ids()
            if {"name", "res_model", "res_id"} & set(vals)
            else set()
        )
        res = super().write(vals)
        if before or {"name", "res_model", "res_id"} & set(vals):
            self.env["crm.mail.message"]._update_attachment_names(
                before | self._crm_mail_ids()
            )
        return res

    def unlink(self):
        mail_ids = self._crm_mail_ids()
        res = super().unlink()
        self.env["crm.mail.message"]._update_attachment_names(mail_ids)
        return res
