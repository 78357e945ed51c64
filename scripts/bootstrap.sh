# Sourced by scripts/test.sh and scripts/demo.sh: installs what is missing.
# - Debian packages (as root; otherwise prints the apt-get line to run)
# - the project venv .venv with the project's requirements and, when an
#   Odoo 18 tree is found, Odoo's own requirements
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

DEB_PACKAGES="dovecot-imapd dovecot-pop3d postgresql libldap2-dev libsasl2-dev libpq-dev openssl python3-venv chromium gettext"
missing=""
for pkg in $DEB_PACKAGES ${EXTRA_DEB_PACKAGES:-}; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo ">>> installing Debian packages:$missing"
    # system services must not start: our servers run on loopback from their
    # own configs (a policy-rc.d answering 101 tells the package scripts so)
    created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      created_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    [ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      systemctl disable --now dovecot >/dev/null 2>&1 || true
    fi
  else
    echo ">>> missing Debian packages:$missing"
    echo ">>> run: sudo apt-get install -y$missing"
    exit 1
  fi
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
ODOO_TREE="$("$PYTHON" -c 'import sys; sys.path.insert(0, "."); from devtools.odoo_env import find_odoo; t, _ = find_odoo(); print(t or "")')"
export ODOO_TREE

if [ ! -x .venv/bin/python ]; then
  echo ">>> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp_src="$(cat requirements-dev.txt; [ -n "$ODOO_TREE" ] && cat "$ODOO_TREE/requirements.txt"; echo "$ODOO_TREE")"
stamp="$(printf '%s' "$stamp_src" | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.stamp 2>/dev/null)" != "$stamp" ]; then
  echo ">>> installing Python requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  if [ -n "$ODOO_TREE" ]; then
    # cbor2 5.4.2 (pinned by Odoo) does not build with setuptools 81+
    bc="$(mktemp)"; echo 'setuptools<81' > "$bc"
    .venv/bin/python -m pip install -q --build-constraint "$bc" -r "$ODOO_TREE/requirements.txt"
    rm -f "$bc"
  fi
  echo "$stamp" > .venv/.stamp
fi
