"""``odoo-bin crm_mail_watch``: the mail watcher (IMAP IDLE) as a command.

It runs beside the Odoo server, threaded or prefork alike, with the same
configuration file; see ``watcher.py`` and the README ("Live arrival").
"""

import logging
import signal
import sys
import threading
from pathlib import Path

from odoo.cli import Command
from odoo.tools import config

from ..watcher import Watcher

_logger = logging.getLogger(__name__)


class CrmMailWatch(Command):
    """Keep mail accounts in IMAP IDLE: new mail in the CRM within seconds"""

    name = "crm_mail_watch"

    def run(self, args):
        config.parser.prog = f"{Path(sys.argv[0]).name} {self.name}"
        config.parse_config(args, setup_logging=True)
        names = [name for name in (config["db_name"] or "").split(",") if name]
        if not names:
            sys.exit("crm_mail_watch: give the database(s) with -d / --database.")
        watchers = [Watcher(name) for name in names]

        def shutdown(signum, frame):
            for watcher in watchers:
                watcher.shutdown()

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        threads = [
            threading.Thread(target=w.serve, name=f"crm_mail_watch {w.dbname}")
            for w in watchers
        ]
        for thread in threads:
            thread.start()
        # the main thread only waits (and receives the signals)
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(1)
