{
    "name": "CRM Mail Client: Tasks",
    "summary": "Create Task from a mail, and a Mail tab on tasks",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "license": "LGPL-3",
    "author": "CRM Mail Client developers",
    # installs itself once both the mail client and Project are installed:
    # the mail client itself never depends on Project
    "depends": ["crm_mail_client", "project"],
    "auto_install": True,
    "data": [
        "views/project_task_views.xml",
        "views/crm_mail_message_views.xml",
    ],
    "installable": True,
}
