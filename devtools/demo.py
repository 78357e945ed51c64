"""The demo: private servers, a database with crm_mail_client and a demo
account whose sample mail is fetched, Odoo on http://127.0.0.1:8069.

Ctrl-C stops Odoo, Dovecot, the SMTP peer and PostgreSQL.
"""

import argparse
import json
import secrets
import shutil
import signal
import subprocess
import sys

from . import odoo_env
from .dovecot import Dovecot
from .postgres import Postgres
from .samples import (
    NOT_A_MAIL,
    SENDERS,
    auto_reply,
    newsletter_with_remote_images,
    sample_message,
    spam_offer,
)
from .smtp_peer import SmtpPeer

DEMO_DIR = odoo_env.DEVDATA / "demo"
DB = "crm_mail_demo"
MAILBOX, PASSWORD = "sales@demo.example", "demo-password"
#: the salesperson's login (and password)
SALES_LOGIN = "anna"
#: a mailbox that signs in with OAuth2 at the local provider (no password)
OAUTH_MAILBOX = "director@oauth.demo.example"

SETUP = """
import datetime
import json
info = json.loads(%r)
Account = env["crm.mail.account"]
account = Account.create({
    "name": "Demo: sales mailbox",
    "email": info["mailbox"],
    "incoming_host": info["host"],
    "incoming_port": info["imaps_port"],
    "incoming_security": "ssl",
    "login": info["mailbox"],
    "password": info["password"],
    "smtp_host": info["host"],
    "smtp_port": info["smtps_port"],
    "smtp_security": "ssl",
    "ca_certificate": info["ca_pem"],
    "initial_days": 0,
    "max_per_run": 100,
    "fetch_spam": True,
})
account.action_test_connection()
account._fetch_locked()
# sign-in without a password: the local OAuth2 provider stands in for
# Google / Yandex; "Sign in with the provider" on the form consents at once
provider = env["crm.mail.oauth.provider"].create({
    "name": "Demo sign-in (local OAuth2)",
    "domains": info["oauth_mailbox"].split("@")[1],
    "authorize_url": info["oauth_url"] + "/authorize",
    "token_url": info["oauth_url"] + "/token",
    "revoke_url": info["oauth_url"] + "/revoke",
    "client_id": "demo-client",
    "client_secret": "demo-secret",
    "mechanism": "xoauth2",
})
Account.create({
    "name": "Demo: sign-in mailbox (OAuth2)",
    "email": info["oauth_mailbox"],
    "auth_method": "oauth2",
    "oauth_provider_id": provider.id,
    "incoming_host": info["host"],
    "incoming_port": info["imaps_port"],
    "incoming_security": "ssl",
    "login": info["oauth_mailbox"],
    "smtp_host": info["host"],
    "smtp_port": info["smtps_port"],
    "smtp_security": "ssl",
    "ca_certificate": info["ca_pem"],
    "initial_days": 0,
})
# a mailbox that has been worked on: a reply on control, reviewed and
# postponed mail (the reply goes to the demo SMTP peer)
admin = env.ref("base.user_admin")
mails = env["crm.mail.message"].search(
    [("account_id", "=", account.id), ("direction", "=", "incoming")], order="date desc"
).with_user(admin)
if len(mails) > 8:
    context = mails[1].action_reply()["context"]
    Compose = env["crm.mail.compose"].with_user(admin)
    composer = Compose.with_context(**context).create({})
    composer.body = "<p>Добрый день! Счёт во вложении.</p>" + composer.body
    composer.action_send()
    reply = env["crm.mail.message"].search([("parent_id", "=", mails[1].id)], limit=1)
    reply.with_user(admin).action_put_on_control()
    mails[3:7].action_mark_reviewed()
    mails[7]._postpone(datetime.datetime.now() + datetime.timedelta(days=1))
# a salesperson who reads the shared mailbox and sends from it
sales = env["res.users"].create({
    "name": "Анна Смирнова",
    "login": info["sales_login"],
    "password": info["sales_login"],
    "email": "anna.smirnova@demo.example",
    "groups_id": [(6, 0, [env.ref("sales_team.group_sale_salesman").id])],
})
env["crm.mail.account.access"].create({
    "account_id": account.id,
    "user_id": sales.id,
    "in_read": True,
    "out_send": True,
    "out_default": True,
})
if info["lang"] != "en_US":
    # the Russian UI our users expect: language, terms, the users' preference
    env["res.lang"]._activate_lang(info["lang"])
    installed = env["ir.module.module"].search([("state", "=", "installed")])
    env["ir.module.module"]._load_module_terms(installed.mapped("name"), [info["lang"]])
    (env.ref("base.user_admin") | sales).lang = info["lang"]
env.cr.commit()
print("DEMO_ACCOUNT", account.id, account.state, account.message_count)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8069)
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--lang", default="ru_RU", help="UI language (en_US: none)")
    args = parser.parse_args(argv)
    tree, how = odoo_env.find_odoo()
    if not tree:
        sys.exit(f"Odoo 18 not found: {how}. Set ODOO_PATH to an Odoo 18 source tree.")
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    pg = Postgres(DEMO_DIR / "pg")
    dovecot = Dovecot(DEMO_DIR / "dovecot")
    smtp = None
    odoo = watcher = None
    try:
        pg.start()
        dovecot.start()
        dovecot.add_user(MAILBOX, PASSWORD)
        for index in range(args.mails):
            sender = SENDERS[index % len(SENDERS)]
            dovecot.deliver(MAILBOX, sample_message(index, MAILBOX, sender=sender))
        # what a real mailbox also gets: an auto-reply, remote images, and
        # bytes that are no mail (the Quarantine shows them with the reason)
        dovecot.deliver(MAILBOX, auto_reply(MAILBOX))
        dovecot.deliver(MAILBOX, newsletter_with_remote_images(MAILBOX))
        dovecot.deliver(MAILBOX, NOT_A_MAIL)
        # what the server's filter put in Junk: the Spam view shows it
        dovecot.deliver(MAILBOX, spam_offer(MAILBOX), folder="Junk")
        # its password is never known: it signs in with OAuth2 only
        dovecot.add_user(OAUTH_MAILBOX, secrets.token_urlsafe(24))
        for index in range(5):
            dovecot.deliver(OAUTH_MAILBOX, sample_message(index, OAUTH_MAILBOX))
        # the SMTP peer shares Dovecot's CA: the account trusts that one CA
        smtp = SmtpPeer(
            DEMO_DIR / "smtp",
            login=MAILBOX,
            password=PASSWORD,
            certs=dovecot.certs,
            oauth_store=dovecot.oauth_store,
        )
        smtp.start()
        print(f">>> Dovecot IMAPS 127.0.0.1:{dovecot.imaps_port}, mailbox {MAILBOX}")
        print(f">>> SMTP peer 127.0.0.1:{smtp.smtps_port}; sent mail in {smtp.outbox}")
        print(f">>> OAuth2 provider {dovecot.oauth_url}, mailbox {OAUTH_MAILBOX}")
        base = ["-d", DB, "--without-demo=all", "--log-level=warn"]
        print(">>> creating database with crm_mail_client (a minute or two)")
        # Project too: its bridge (Create Task, the tasks' Mail tab) comes along
        code, log = odoo_env.run_odoo(
            tree,
            DEMO_DIR,
            pg,
            [*base, "-i", "crm_mail_client,project", "--stop-after-init"],
            DEMO_DIR / "install.log",
        )
        if code:
            sys.exit(log[-4000:])
        info = {
            "mailbox": MAILBOX,
            "password": PASSWORD,
            "host": dovecot.host,
            "imaps_port": dovecot.imaps_port,
            "smtps_port": smtp.smtps_port,
            "ca_pem": dovecot.ca_pem,
            "lang": args.lang,
            "sales_login": SALES_LOGIN,
            "oauth_mailbox": OAUTH_MAILBOX,
            "oauth_url": dovecot.oauth_url,
        }
        code, log = odoo_env.run_odoo(
            tree,
            DEMO_DIR,
            pg,
            ["shell", *base, "--no-http"],
            DEMO_DIR / "setup.log",
            input=SETUP % json.dumps(info),
        )
        line = next(
            (ln for ln in log.splitlines() if ln.startswith("DEMO_ACCOUNT")), ""
        )
        if code or not line:
            sys.exit(log[-4000:])
        print(f">>> demo account ready: {line}")
        cmd = odoo_env.odoo_command(
            tree,
            DEMO_DIR,
            pg,
            "-d",
            DB,
            "--http-interface",
            "127.0.0.1",
            "--http-port",
            str(args.port),
            "--db-filter",
            f"^{DB}$",
            # the lines below stay the last ones on the screen
            "--log-level=warn",
        )
        odoo = subprocess.Popen(cmd, env=odoo_env.odoo_env(tree), cwd=DEMO_DIR)
        # the mail watcher beside it, as in production: mail delivered into
        # the demo mailboxes shows up within seconds (IMAP IDLE)
        watcher = subprocess.Popen(
            odoo_env.odoo_command(tree, DEMO_DIR, pg, "crm_mail_watch", *base),
            env=odoo_env.odoo_env(tree),
            cwd=DEMO_DIR,
        )

        def stop(*_args):
            watcher.terminate()
            odoo.terminate()

        # started in the background (`&`), SIGINT is ignored by default: the
        # demo stops on it as on SIGTERM
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        print(
            f"\n>>> Odoo:      http://127.0.0.1:{args.port}\n"
            ">>> Logins:    admin / admin (administrator), "
            f"{SALES_LOGIN} / {SALES_LOGIN} (salesperson: reads and sends sales@)\n"
            f">>> Mailbox:   {MAILBOX} / {PASSWORD} "
            f"(IMAPS 127.0.0.1:{dovecot.imaps_port}, "
            f"SMTPS 127.0.0.1:{smtp.smtps_port})\n"
            f">>> Sign-in:   {OAUTH_MAILBOX} (OAuth2, no password)\n"
            ">>> Live:      the mail watcher (odoo-bin crm_mail_watch) keeps the "
            "mailboxes in IMAP IDLE\n"
            ">>> Ctrl-C (or SIGTERM) stops everything.",
            flush=True,
        )
        odoo.wait()
    except KeyboardInterrupt:
        print("\n>>> stopping")
    finally:
        for process in (watcher, odoo):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        if smtp:
            smtp.stop()
        dovecot.stop()
        pg.stop()
        print(">>> stopped Odoo, the mail watcher, SMTP peer, Dovecot and PostgreSQL")


if __name__ == "__main__":
    main()
