#!/usr/bin/env bash
# The test command: lints, the engine suite, the Odoo suite. See README.md.
source "$(dirname "$0")/bootstrap.sh"
exec .venv/bin/python -m devtools.run_tests "$@"
