#!/usr/bin/env bash
# The ingest benchmark (raw limit, Odoo's stock gateway, crm_mail_client).
# Takes minutes; --quick runs a few hundred mails. See devtools/benchmark.py.
source "$(dirname "$0")/bootstrap.sh"
exec .venv/bin/python -m devtools.benchmark "$@"
