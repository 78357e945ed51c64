from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestInstall(TransactionCase):
    """The addon's groups, menus and settings as an admin and a user meet them."""

    def test_groups_implied(self):
        salesman = new_test_user(
            self.env, login="crm_mail_salesman", groups="sales_team.group_sale_salesman"
        )
        self.assertTrue(salesman.has_group("crm_mail_client.group_mail_user"))
        self.assertFalse(salesman.has_group("crm_mail_client.group_mail_manager"))
        settings_admin = new_test_user(
            self.env, login="crm_mail_sysadmin", groups="base.group_system"
        )
        self.assertTrue(settings_admin.has_group("crm_mail_client.group_mail_manager"))
        manager = self.env.ref("crm_mail_client.group_mail_manager")
        self.assertIn(
            self.env.ref("crm_mail_client.group_mail_user"), manager.implied_ids
        )
        self.assertEqual(
            manager.category_id,
            self.env.ref("crm_mail_client.module_category_crm_mail"),
        )

    def test_no_empty_menu(self):
        root = self.env.ref("crm_mail_client.crm_mail_menu_root")
        menus = self.env["ir.ui.menu"].search([("id", "child_of", root.id)])
        self.assertGreater(len(menus), 3)
        for menu in menus:
            self.assertTrue(
                menu.action or menu.child_id, f"menu {menu.complete_name} is empty"
            )

    def test_menu_visibility(self):
        plain = new_test_user(
            self.env, login="crm_mail_plain", groups="base.group_user"
        )
        salesman = new_test_user(
            self.env,
            login="crm_mail_salesman2",
            groups="sales_team.group_sale_salesman",
        )
        root = self.env.ref("crm_mail_client.crm_mail_menu_root")
        quarantine = self.env.ref("crm_mail_client.crm_mail_message_menu_quarantine")
        visible = self.env["ir.ui.menu"].with_user(salesman)._visible_menu_ids()
        self.assertIn(root.id, visible)
        self.assertNotIn(quarantine.id, visible)
        self.assertNotIn(
            root.id, self.env["ir.ui.menu"].with_user(plain)._visible_menu_ids()
        )

    def test_settings_section(self):
        settings = self.env["res.config.settings"].create(
            {
                "crm_mail_fetch_interval": 4,
                "crm_mail_fetch_interval_type": "hours",
                "crm_mail_max_per_run": 80,
            }
        )
        settings.execute()
        cron = self.env.ref("crm_mail_client.ir_cron_fetch_mail")
        self.assertEqual((cron.interval_number, cron.interval_type), (4, "hours"))
        new = self.env["res.config.settings"].create({})
        self.assertEqual(new.crm_mail_fetch_interval, 4)
        self.assertEqual(new.crm_mail_max_per_run, 80)
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]
        self.assertIn('name="crm_mail_client"', arch["form"]["arch"])
