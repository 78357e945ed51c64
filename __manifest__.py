{
    "name": "CRM Mail Client",
    "summary": "Mail accounts (IMAP/POP3/SMTP) fetched into the CRM, "
    "linked to companies and contacts",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "license": "LGPL-3",
    "author": "crm_mail_client developers",
    "website": "https://example.com/crm_mail_client",
    "depends": ["crm"],
    "data": [
        "security/crm_mail_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "views/crm_mail_message_views.xml",
        "views/crm_mail_account_views.xml",
        "views/res_partner_views.xml",
        "views/res_config_settings_views.xml",
        "views/crm_mail_menus.xml",
    ],
    "application": True,
    "installable": True,
}
