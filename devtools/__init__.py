"""Developer tooling of crm_mail_client: private servers for tests and demo.

Standard library only (plus aiosmtpd for the SMTP peer); never loaded by Odoo
as part of the addon. Used by ``scripts/test.sh``, ``scripts/demo.sh``, the
engine pytest suite and the Odoo test suite.
"""
