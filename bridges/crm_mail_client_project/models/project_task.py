from odoo import models


class ProjectTask(models.Model):
    """The task's mail: a Mail tab like leads' and partners'."""

    _name = "project.task"
    _inherit = ["project.task", "crm.mail.tab.mixin"]

    def _crm_mail_domain(self):
        return [("task_id", "in", self.ids)]

    def _crm_mail_action_context(self):
        return {"default_task_id": self.id}
