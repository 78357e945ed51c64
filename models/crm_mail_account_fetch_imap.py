import collections
import logging
import time
from datetime import date, timedelta

from odoo import models
from odoo.tools import str2bool

from ..mail_engine.exceptions import MailEngineError
from ..mail_engine.imap_session import ImapSession
from ..mail_engine.parse_worker import RESULT_TIMEOUT, ParseWorker, WorkerGone
from .crm_mail_account_fetch import COMMIT_EVERY

_logger = logging.getLogger(__name__)

#: days before the newest stored mail a renumbered folder is searched from
RESYNC_MARGIN_DAYS = 1
#: system parameter: 0 parses fetched mail in the fetching process
PARSE_WORKER_PARAM = "crm_mail_client.parse_worker"
#: seconds past the run's deadline the parse worker is waited for at most
RESULT_MARGIN = 5


class FetchedBatch:
    """Fetched mails stored together, and the folder's UID they reach."""

    def __init__(self, mails, last_uid):
        self.mails = list(mails)
        self.last_uid = last_uid
        #: what the parse worker made of them (None: parsed when stored)
        self.parsed = None
        #: the worker it was handed to
        self.submitted = None


class ParseAhead:
    """Batches of fetched mails on their way to the database.

    With the run's parse worker, each batch is handed to it as soon as it
    is full, and given back parsed once the next one is handed over: the
    worker parses a batch while the one before it is stored. A worker that
    fails is dropped from the run; the mails it had are parsed when stored.
    """

    def __init__(self, run):
        self.run = run
        self.waiting = collections.deque()

    def add(self, mails, last_uid):
        if not mails:
            return
        batch = FetchedBatch(mails, last_uid)
        worker = self.run.parse_worker
        if worker:
            try:
                worker.submit([f.raw for f in batch.mails if f.raw is not None])
                batch.submitted = worker
            except WorkerGone as error:
                self._drop(error)
        self.waiting.append(batch)

    def ready(self, every=False):
        """The batches to store now, in order: all of them with ``every``
        or without a worker, else all but the one being parsed."""
        keep = 0 if every or not self.run.parse_worker else 1
        while len(self.waiting) > keep:
            batch = self.waiting.popleft()
            if batch.submitted and batch.submitted is self.run.parse_worker:
                # no longer than the run may last (and a little more)
                left = self.run.deadline - time.monotonic() + RESULT_MARGIN
                try:
                    results = iter(
                        batch.submitted.result(timeout=min(left, RESULT_TIMEOUT))
                    )
                except WorkerGone as error:
                    self._drop(error)
                else:
                    batch.parsed = [
                        next(results) for f in batch.mails if f.raw is not None
                    ]
            yield batch

    def _drop(self, error):
        _logger.warning("Parse worker gone (%s): parsing here.", error)
        self.run.close()
        self.run.parse_worker_failed = True


class CrmMailAccount(models.Model):
    """IMAP: folders in order, new UIDs above each folder's checkpoint."""

    _inherit = "crm.mail.account"

    def _fetch_imap(self, run):
        Folder = self.env["crm.mail.folder"]
        with ImapSession.open(self._incoming_config()) as session:
            if self.sync_flags:
                # before any SELECT: they then report HIGHESTMODSEQ
                session.enable_sync()
            infos = session.list_folders()
            Folder._sync_from_server(self, infos)
            names = set(Folder._fetch_names(self, infos))
            # what earlier runs left undone on the server, first
            self._apply_imap_actions(session, self.folder_ids)
            folders = self.folder_ids.filtered(lambda f: f.name in names)
            for folder in folders.sorted(lambda f: (f.sequence, f.name)):
                if run.out_of_budget():
                    break
                self._fetch_imap_folder(session, folder, run)
                self._commit_point(run)
                self._pull_server_state(session, folder)
                self._apply_imap_actions(session, folder, expire=True)

    def _fetch_imap_folder(self, session, folder, run):
        uidvalidity, uidnext = session.select(folder.name)
        since = None
        if folder.uidvalidity != uidvalidity:
            since = self._sync_window(folder)
            if folder.uidvalidity:
                # the server renumbered the folder: its mails are found again
                # by Message-ID (their new place recorded), and the search
                # starts where our mail ends, not at the dawn of the mailbox
                _logger.warning(
                    "UIDVALIDITY of %s/%s changed (%s -> %s): resync since %s.",
                    self.id,
                    folder.name,
                    folder.uidvalidity,
                    uidvalidity,
                    since,
                )
            folder.write({"uidvalidity": uidvalidity, "last_uid": 0})
        self._retry_refused_imap(session, folder, run)
        _validity, uids = session.search_uids(
            folder.name, above_uid=folder.last_uid, since=since
        )
        if since is not None:
            # a window: older mail stays out for good
            floor = (min(uids) - 1) if uids else max(uidnext - 1, 0)
            folder.last_uid = floor
        folder.backlog = len(uids) > run.left
        if folder.backlog:
            run.more = True
        uids = uids[: max(run.left, 0)]
        # the mails are stored in batches, each committed with the folder's
        # checkpoint: the UID up to which every mail is in the database;
        # with a parse worker, a batch is parsed while the one before it
        # is stored
        self._start_parse_worker(run, len(uids))
        batches = ParseAhead(run)
        pending, pending_bytes, seen_uid = [], 0, None
        try:
            for fetched in session.fetch(folder.name, uids):
                pending.append(fetched)
                pending_bytes += len(fetched.raw or b"")
                seen_uid = fetched.uid
                late = time.monotonic() > run.deadline
                if late or run.batch_full(pending, pending_bytes):
                    batches.add(pending, seen_uid)
                    pending, pending_bytes = [], 0
                    for batch in batches.ready(every=late):
                        self._store_imap_batch(folder, batch, run)
                if late:
                    run.more = folder.backlog = True
                    break
        except MailEngineError:
            # the server failed (it kept dropping us, say): what it gave and
            # refused so far is stored, so that the next run goes further
            batches.add(pending, seen_uid)
            for batch in batches.ready(every=True):
                self._store_imap_batch(folder, batch, run)
            self._commit_point(run)
            raise
        batches.add(pending, seen_uid)
        for batch in batches.ready(every=True):
            self._store_imap_batch(folder, batch, run)

    def _store_imap_batch(self, folder, batch, run):
        """Store a batch of fetched mails (queue the refused ones for a
        retry) and commit it with the folder's checkpoint."""
        pending = []
        for fetched in batch.mails:
            source = self._imap_source(folder, fetched)
            if fetched.raw is None:
                self._refused(
                    run, source, fetched.error, f"{folder.name} {fetched.uid}"
                )
            else:
                pending.append((fetched.raw, source))
        self._ingest_pending(run, pending, parsed=batch.parsed)
        folder.last_uid = batch.last_uid
        self._commit_point(run)

    def _start_parse_worker(self, run, count):
        """Start the run's parse worker for more than a batch of mails
        (without one, the mails are parsed in this process). Settings →
        Technical → System Parameters: ``crm_mail_client.parse_worker`` = 0
        turns it off."""
        if (
            run.parse_worker
            or run.parse_worker_failed
            or count <= COMMIT_EVERY
            or not ParseWorker.available()
        ):
            return
        param = self.env["ir.config_parameter"].sudo().get_param(PARSE_WORKER_PARAM)
        if not str2bool(param or "1", default=True):
            return
        options = self.env["crm.mail.message"]._parse_options(self)
        try:
            run.parse_worker = ParseWorker(options)
        except OSError as error:
            _logger.warning("No parse worker (%s): mail is parsed in the fetch.", error)

    def _sync_window(self, folder):
        """The first day a (re)synced folder is searched from, or None.

        A folder fully fetched before (renumbered) is searched from a day
        before its newest stored mail; a new folder, or one whose fetch had
        mail left to take, from the account's first-sync window (its mails
        already stored are found again, not stored twice). A folder never
        fetched may hold mail stored from elsewhere (moved there by *Mark as
        Spam*): that says nothing of what else it holds.
        """
        newest = self.env["crm.mail.message"]._read_group(
            [("folder_id", "=", folder.id)], [], ["create_date:max"]
        )[0][0]
        if newest and not folder.backlog and folder.uidvalidity:
            return newest.date() - timedelta(days=RESYNC_MARGIN_DAYS)
        if self.initial_days:
            return date.today() - timedelta(days=self.initial_days)
        return None

    def _imap_source(self, folder, fetched):
        return {
            "folder_id": folder.id,
            "imap_uidvalidity": fetched.uidvalidity,
            "imap_uid": fetched.uid,
        }

    def _ingest_fetched(self, folder, fetched, run):
        """Store one fetched message, or queue it for a retry if refused."""
        source = self._imap_source(folder, fetched)
        if fetched.raw is None:
            self._refused(run, source, fetched.error, f"{folder.name} {fetched.uid}")
            return
        self._ingest_pending(run, [(fetched.raw, source)])

    def _retry_refused_imap(self, session, folder, run):
        """Ask again, one by one, for the messages earlier runs were refused."""
        Retry = self.env["crm.mail.fetch.retry"]
        retries = Retry.search(
            [("account_id", "=", self.id), ("folder_id", "=", folder.id)]
        )
        # renumbered folder: the resync finds them again by Message-ID
        stale = retries.filtered(lambda r: r.imap_uidvalidity != folder.uidvalidity)
        stale.unlink()
        retries -= stale
        if not retries:
            return
        present = set(session.present_uids(folder.name, retries.mapped("imap_uid")))
        gone = retries.filtered(lambda r: r.imap_uid not in present)
        for retry in gone:
            run.details.append(
                f"gone: {folder.name} {retry.imap_uid} left the server before it "
                "could be fetched"
            )
        gone.unlink()
        by_uid = {r.imap_uid: r for r in retries - gone}
        try:
            for fetched in session.fetch(folder.name, sorted(by_uid), batch_size=1):
                retry = by_uid[fetched.uid]
                if fetched.raw is None:
                    self._refused(
                        run,
                        retry._source(),
                        fetched.error,
                        f"{folder.name} {fetched.uid}",
                        retry=retry,
                    )
                else:
                    retry.unlink()
                    self._ingest_fetched(folder, fetched, run)
                if time.monotonic() > run.deadline:
                    run.more = True
                    break
        except MailEngineError:
            # the refusals counted so far stay counted: a message that kills
            # every session still ends in Quarantine after its runs
            self._commit_point(run)
            raise
