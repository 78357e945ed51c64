from odoo import api, fields, models
from odoo.exceptions import UserError


class CrmMailMessage(models.Model):
    """*Create Task* from a mail (vtiger's "Add task"): the task is named
    after the subject, the text is its description, the attachments are
    copied to it, and the mail is linked to it (its Mail tab)."""

    _inherit = "crm.mail.message"

    task_id = fields.Many2one("project.task", index="btree_not_null")

    @api.depends("task_id")
    def _compute_more_actions(self):
        res = super()._compute_more_actions()
        may_create = self.env["project.task"].has_access("create")
        for mail in self:
            if (
                not may_create
                or mail.task_id
                or mail.state in ("draft", "quarantined", "spam")
            ):
                continue
            actions = list(mail.more_actions or [])
            names = [action["name"] for action in actions]
            # after Create Lead, else first
            at = (
                names.index("action_create_lead") + 1
                if "action_create_lead" in names
                else 0
            )
            actions.insert(
                at, {"name": "action_create_task", "string": self.env._("Create Task")}
            )
            mail.more_actions = actions
        return res

    def _mail_tab_models(self):
        return [*super()._mail_tab_models(), "project.task"]

    def action_create_task(self):
        """One task per mail, opened (several: listed)."""
        self._check_can_act()
        if self.filtered(lambda m: m.state in ("draft", "quarantined", "spam")):
            raise UserError(self.env._("A task is made from a received or sent mail."))
        if self.filtered("task_id"):
            raise UserError(self.env._("This mail already has its task."))
        Task = self.env["project.task"]
        for mail in self:
            partner = mail.contact_id or mail.partner_id
            task = Task.create(
                {
                    "name": mail.subject or self.env._("Mail from %s", mail.email_from),
                    "description": mail._body_html(),
                    "partner_id": partner.id,
                    "company_id": mail.company_id.id,
                    # a task without a project is its assignees' own
                    "user_ids": [fields.Command.link(self.env.uid)],
                }
            )
            mail._copy_attachments_to(task)
            mail._fill_links({"task_id": task.id})
            Task |= task
        self._invalidate_mail_tabs()
        return self._open_records(Task, self.env._("Tasks from Mail"))
