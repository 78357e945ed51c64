"""Create Task from a mail (#23, item 4), over RPC as the salesperson: the
task named after the subject, the text as its description, the
attachments copied, the mail linked and shown in the task's Mail tab."""

import base64

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.crm_mail_client.tests.test_access_rules import RpcMixin

SALES = "sales_team.group_sale_salesman"


@tagged("post_install", "-at_install")
class TestCreateTask(RpcMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.worker = new_test_user(
            env, login="task_worker", groups=f"{SALES},project.group_project_user"
        )
        cls.no_project = new_test_user(env, login="task_no_project", groups=SALES)
        cls.stranger = new_test_user(
            env, login="task_stranger", groups=f"{SALES},project.group_project_user"
        )
        account = (
            env["crm.mail.account"]
            .sudo()
            .create(
                {
                    "name": "Sales",
                    "email": "sales@crm.test",
                    "incoming_host": "imap.invalid",
                    "password": "secret-pw",
                }
            )
        )
        for user in (cls.worker, cls.no_project):
            env["crm.mail.account.access"].create(
                {"account_id": account.id, "user_id": user.id, "in_read": True}
            )
        cls.ivan = env["res.partner"].create(
            {"name": "Ivan Petrov", "email": "ivan@romashka.example"}
        )
        cls.mail = (
            env["crm.mail.message"]
            .sudo()
            .create(
                {
                    "account_id": account.id,
                    "direction": "incoming",
                    "subject": "Смонтировать насос на объекте",
                    "email_from": "ivan@romashka.example",
                    "contact_id": cls.ivan.id,
                    "body_html": "<p>Нужно смонтировать насос до пятницы.</p>",
                }
            )
        )
        cls.attachment = env["ir.attachment"].create(
            {
                "name": "схема.pdf",
                "datas": base64.b64encode(b"%PDF-1.4 scheme"),
                "res_model": "crm.mail.message",
                "res_id": cls.mail.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.tasks_before = self.env["project.task"].search_count([])

    def more(self):
        [row], error = self.call(
            "crm.mail.message", "read", self.mail.ids, ["more_actions"]
        )
        self.assertIsNone(error)
        return [action["name"] for action in row["more_actions"]]

    def test_create_task_over_rpc(self):
        self.login(self.worker)
        self.assertIn("action_create_task", self.more())
        action, error = self.call(
            "crm.mail.message", "action_create_task", self.mail.ids
        )
        self.assertIsNone(error)
        self.assertEqual(action["res_model"], "project.task")
        task = self.env["project.task"].browse(action["res_id"])
        self.assertEqual(task.name, "Смонтировать насос на объекте")
        self.assertIn("Нужно смонтировать насос до пятницы.", str(task.description))
        self.assertEqual(task.partner_id, self.ivan)
        self.assertEqual(task.user_ids, self.worker)
        copied = self.env["ir.attachment"].search(
            [("res_model", "=", "project.task"), ("res_id", "=", task.id)]
        )
        self.assertEqual(copied.mapped("name"), ["схема.pdf"])
        self.assertEqual(copied.raw, b"%PDF-1.4 scheme")
        self.assertEqual(self.mail.task_id, task)
        # the task's Mail tab, as he sees it; no second task offered
        [row], error = self.call(
            "project.task", "read", task.ids, ["crm_mail_message_ids", "crm_mail_count"]
        )
        self.assertIsNone(error)
        self.assertEqual(row["crm_mail_message_ids"], self.mail.ids)
        self.assertEqual(row["crm_mail_count"], 1)
        self.assertNotIn("action_create_task", self.more())

    def test_without_project_rights_it_is_his_own_to_do(self):
        # Odoo's to-dos (project_todo comes with Project): every employee
        # makes private tasks; nobody else reads them
        self.login(self.no_project)
        self.assertIn("action_create_task", self.more())
        action, error = self.call(
            "crm.mail.message", "action_create_task", self.mail.ids
        )
        self.assertIsNone(error)
        task = self.env["project.task"].browse(action["res_id"])
        self.assertFalse(task.project_id)
        self.assertEqual(task.user_ids, self.no_project)
        self.login(self.worker)
        _result, error = self.call("project.task", "read", task.ids, ["name"])
        self.assertIn("AccessError", error)

    def test_a_user_who_may_not_read_the_mail_gets_no_task_from_it(self):
        self.login(self.stranger)
        _result, error = self.call(
            "crm.mail.message", "action_create_task", self.mail.ids
        )
        self.assertIn("AccessError", error)
        self.assertFalse(
            self.env["project.task"].search([("user_ids", "in", self.stranger.ids)])
        )

    def test_a_mail_gets_one_task(self):
        self.login(self.worker)
        action, error = self.call(
            "crm.mail.message", "action_create_task", self.mail.ids
        )
        self.assertIsNone(error)
        _result, error = self.call(
            "crm.mail.message", "action_create_task", self.mail.ids
        )
        self.assertIn("UserError", error)
        self.assertEqual(self.mail.task_id.id, action["res_id"])
        self.assertEqual(
            self.env["project.task"].search_count([]), self.tasks_before + 1
        )
