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

    def test_indexes_of_the_mail_table(self):
        """Every index the code makes by hand exists after an install: the
        unique ones (mail stored exactly once) and those of the lists and
        the search (each ``init`` of the model ran, none hid another)."""
        self.env.cr.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'crm_mail_message'"
        )
        names = {row[0] for row in self.env.cr.fetchall()}
        expected = {
            "crm_mail_message_imap_uid_uniq",
            "crm_mail_message_pop3_uidl_uniq",
            "crm_mail_message_dedupe_uniq",
            "crm_mail_message_list_rule_idx",
            "crm_mail_message_folder_rule_idx",
            "crm_mail_message_fulltext_idx",
            "crm_mail_message_email_from_trgm_idx",
        }
        self.assertEqual(expected - names, set())
        # replaced by the list index: never a bitmap of most of the table
        # (and the list index before the responsible was in it)
        self.assertFalse(
            {
                "crm_mail_message__state_index",
                "crm_mail_message__direction_index",
                "crm_mail_message_list_idx",
                # and the folder's by the folder's covering index
                "crm_mail_message__folder_id_index",
            }
            & names
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


@tagged("post_install", "-at_install")
class TestMigration(TransactionCase):
    """The 18.0.2.0.0 migration on a database shaped like 18.0.1.0.0."""

    def _script(self, name):
        import importlib.util
        from pathlib import Path

        path = Path(__file__).parents[1] / "migrations" / "18.0.2.0.0" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(
            f"crm_mail_migration_{name}", path
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def test_18_0_2_0_0(self):
        cr = self.env.cr
        account = self.env["crm.mail.account"].create(
            {"name": "M", "email": "m@crm.test", "incoming_host": "imap.invalid"}
        )
        folder = self.env["crm.mail.folder"].create(
            {"account_id": account.id, "name": "INBOX"}
        )
        self.env.flush_all()
        # 18.0.1.0.0: 32-bit columns, a queue table, rules as they were
        cr.execute("ALTER TABLE crm_mail_folder ALTER COLUMN last_uid TYPE integer")
        cr.execute("DROP TABLE IF EXISTS crm_mail_server_deletion")
        cr.execute(
            "CREATE TABLE crm_mail_server_deletion (account_id int, folder_name "
            "varchar, imap_uidvalidity int, imap_uid int, pop3_uidl varchar)"
        )
        cr.execute(
            "INSERT INTO crm_mail_server_deletion VALUES (%s, 'INBOX', 7, 11, NULL), "
            "(%s, 'Gone', 7, 12, NULL)",
            (account.id, account.id),
        )
        rule = self.env.ref("crm_mail_client.crm_mail_rule_rule_user")
        rule.domain_force = "[('account_id', '=', False)]"
        Message = self.env["crm.mail.message"]
        stored = Message.create(
            {"account_id": account.id, "folder_id": folder.id, "subject": "stored"}
        )
        # what a user could do before: a draft given a server place and key
        forged = Message.create(
            {
                "account_id": account.id,
                "direction": "outgoing",
                "state": "draft",
                "message_id": "<draft@crm.test>",
            }
        )
        self.env.flush_all()
        cr.execute(
            "UPDATE crm_mail_message SET imap_uidvalidity = 7, imap_uid = 13 "
            "WHERE id = %s",
            (stored.id,),
        )
        cr.execute(
            "UPDATE crm_mail_message SET folder_id = %s, imap_uidvalidity = 7, "
            "imap_uid = 14, dedupe_key = '<future@client.example>' WHERE id = %s",
            (folder.id, forged.id),
        )
        cr.execute(
            "INSERT INTO crm_mail_server_deletion VALUES (%s, 'INBOX', 7, 13, NULL)",
            (account.id,),
        )
        self._script("pre-migrate").migrate(cr, "18.0.1.0.0")
        self._script("post-migrate").migrate(cr, "18.0.1.0.0")
        self.env.invalidate_all()
        cr.execute(
            "SELECT data_type FROM information_schema.columns WHERE "
            "table_name = 'crm_mail_folder' AND column_name = 'last_uid'"
        )
        self.assertEqual(cr.fetchone()[0], "bigint")
        self.assertEqual(rule.domain_force, "[('user_may_read', '=', True)]")
        moved = self.env["crm.mail.server.action"].search(
            [("account_id", "=", account.id)]
        )
        self.assertEqual(
            [(m.action, m.folder_id, m.imap_uidvalidity, m.imap_uid) for m in moved],
            [("delete", folder, 7, 11)],
            "a folder that no longer exists has nothing left to delete",
        )
        cr.execute("SELECT to_regclass('crm_mail_server_deletion')")
        self.assertIsNone(cr.fetchone()[0])
        self.assertFalse(forged.folder_id or forged.imap_uid)
        self.assertEqual(forged.dedupe_key, "<draft@crm.test>")
