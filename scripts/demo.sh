#!/usr/bin/env bash
# The demo command: private PostgreSQL + Dovecot + SMTP peer, a database with
# crm_mail_client and a demo account, Odoo on http://127.0.0.1:8069.
source "$(dirname "$0")/bootstrap.sh"
exec .venv/bin/python -m devtools.demo "$@"
