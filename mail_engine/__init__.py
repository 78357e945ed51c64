"""Framework-free mail engine of crm_mail_client.

Everything here uses the standard library and lxml only and never imports
``odoo``: sessions (IMAP, POP3, SMTP over verified TLS), MIME parsing,
address handling. Models call it; tests run it without a database.
Use relative imports only, so the package loads both as ``mail_engine``
and as ``odoo.addons.crm_mail_client.mail_engine``.
"""
