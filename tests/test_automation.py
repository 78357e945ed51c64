"""The README's automation example: an Odoo automation rule (base_automation,
installed beside the addon by the test command, not a dependency) that turns
an incoming mail whose subject says «заказ» into a lead linked by lead_id."""

from odoo.tests import tagged

from .common import MailServerCase, make_mail

#: the code typed into the automation's "Execute Code" action (README)
README_CODE = """
for mail in records.filtered(lambda m: not m.lead_id):
    lead = env["crm.lead"].create({
        "name": mail.subject,
        "partner_id": mail.partner_id.id,
        "email_from": mail.email_from,
        "description": mail.body_text,
    })
    mail.write({"lead_id": lead.id})
"""


@tagged("post_install", "-at_install")
class TestAutomationExample(MailServerCase):
    def test_order_mail_becomes_a_lead(self):
        installed = self.env["ir.module.module"].search(
            [("name", "=", "base_automation"), ("state", "=", "installed")]
        )
        self.assertTrue(installed, "the test command installs base_automation")
        model = self.env["ir.model"]._get("crm.mail.message")
        self.env["base.automation"].create(
            {
                "name": "Заказ из письма → лид",
                "model_id": model.id,
                "trigger": "on_create_or_write",
                "filter_domain": "[('direction', '=', 'incoming'), "
                "('subject', 'ilike', 'заказ')]",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Create a lead",
                            "model_id": model.id,
                            "state": "code",
                            "code": README_CODE,
                        },
                    )
                ],
            }
        )
        account = self.make_account()
        self.deliver(make_mail(subject="Новый ЗАКАЗ №15", body="Нужно 10 коробок"))
        self.deliver(make_mail(subject="Вопрос по доставке"))
        account._fetch_locked()
        mails = self.env["crm.mail.message"].search([("account_id", "=", account.id)])
        order = mails.filtered(lambda m: "№15" in m.subject)
        question = mails - order
        self.assertTrue(order.lead_id)
        self.assertEqual(order.lead_id.name, "Новый ЗАКАЗ №15")
        self.assertIn("10 коробок", order.lead_id.description)
        self.assertFalse(question.lead_id)
        leads = self.env["crm.lead"].search([("name", "=", "Новый ЗАКАЗ №15")])
        self.assertEqual(len(leads), 1, "one lead, however often the mail is saved")
