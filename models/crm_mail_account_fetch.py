import logging
import threading
import time
from datetime import date, timedelta

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..mail_engine.exceptions import MailEngineError
from ..mail_engine.imap_session import ImapSession
from ..mail_engine.pop3_session import Pop3Session

_logger = logging.getLogger(__name__)

#: first key of the PostgreSQL advisory locks taken per account ("CRMM")
LOCK_CLASS = 0x43524D4D
#: mails stored between two commits
COMMIT_EVERY = 10
#: seconds one account may fetch in one run, and one cron batch in all
ACCOUNT_BUDGET = 30
RUN_BUDGET = 90
#: key of ``FetchRun.cache``: a routing rule asked to delete the mail just
#: ingested from the server (set by ``_ingest_raw``, read right after it)
DELETE_FROM_SERVER = "delete_from_server"


class FetchRun:
    """Counters and pending server actions of one account's fetch run."""

    def __init__(self, account, limit, budget):
        self.account = account
        self.left = limit
        self.deadline = time.monotonic() + budget
        self.started = time.monotonic()
        self.counts = dict.fromkeys(
            ("stored", "quarantined", "duplicate", "self", "other"), 0
        )
        self.details = []
        self.cache = {}  # per-run data of the ingestion (compiled blacklist)
        # what the last commit made safe: a rollback goes back to it
        self.committed = (dict(self.counts), 0)
        self.more = False
        self.since_commit = 0
        # server actions done only once the database has committed
        self.to_mark_seen = []  # (folder name, uid)
        self.to_delete = []  # (folder name, uid) or pop3 message numbers

    def out_of_budget(self):
        if self.left <= 0 or time.monotonic() > self.deadline:
            self.more = True
        return self.more

    def count(self, outcome, detail):
        key = outcome if outcome in self.counts else "other"
        self.counts[key] += 1
        self.left -= 1
        self.since_commit += 1
        if outcome not in ("stored",):
            self.details.append(f"{outcome}: {detail}")


class CrmMailAccount(models.Model):
    """Fetching: the cron, "Fetch now", and the IMAP / POP3 loops."""

    _inherit = "crm.mail.account"

    # ------------------------------------------------------------
    # ENTRY POINTS
    # ------------------------------------------------------------

    @api.model
    def _cron_fetch_mail(self, job=0, jobs=1):
        """Fetch new mail of every active account (of this job's share).

        WARNING: meant for cron usage only - commits after each small batch
        of mails, so that a crash keeps what was stored.

        :param int job: index of this cron job, 0 <= job < jobs
        :param int jobs: number of cron jobs splitting the accounts
        """
        accounts = self.sudo().search([("active", "=", True)])
        accounts = accounts.filtered(
            lambda a: a.id % max(jobs, 1) == job and a._is_due()
        )
        accounts = accounts.sorted(
            lambda a: (a.last_check or fields.Datetime.from_string("1970-01-01"), a.id)
        )
        deadline = time.monotonic() + RUN_BUDGET
        done = more = 0
        for index, account in enumerate(accounts):
            if time.monotonic() > deadline:
                more += len(accounts) - index
                break
            run = account.with_context(lang=account._cron_lang())._fetch_locked()
            done += 1
            more += bool(run and run.more)
        self.env["ir.cron"]._notify_progress(done=done, remaining=more)

    def action_fetch_now(self):
        """Fetch one batch now; the cron takes the rest right after."""
        runs = []
        for account in self.sudo():
            run = account._fetch_locked()
            if run is None:
                raise UserError(
                    self.env._(
                        "%s is being fetched right now. Try again in a moment.",
                        account.name,
                    )
                )
            runs.append(run)
        if any(run.more for run in runs):
            self._fetch_crons()._trigger()
        failed = [run.account for run in runs if run.account.state == "error"]
        stored = sum(run.counts["stored"] for run in runs)
        message = self.env._("%(stored)s new mails.", stored=stored)
        if any(run.more for run in runs):
            message += " " + self.env._("More mail follows in the background.")
        for account in failed:
            message += f"\n{account.name}: {account.last_error}"
        return self._notification(
            self.env._("Mail fetched"), message, "warning" if failed else "success"
        )

    @api.model
    def action_fetch_all(self):
        return self.search([("active", "=", True)]).action_fetch_now()

    @api.model
    def _fetch_crons(self):
        return (
            self.env["ir.cron"]
            .sudo()
            .with_context(active_test=False)
            .search([("code", "=like", "model._cron_fetch_mail(%")])
        )

    # ------------------------------------------------------------
    # ONE ACCOUNT
    # ------------------------------------------------------------

    def _cron_lang(self):
        """The language a cron writes in for this account's people (errors,
        notes, failures): the owner's, else the company's. A cron has none."""
        self.ensure_one()
        return self.user_id.lang or self.company_id.partner_id.lang or self.env.lang

    def _is_due(self):
        """A failing account is retried less and less often (up to 4 hours)."""
        if self.failure_count < 3 or not self.last_check:
            return True
        delay = min(2 ** (self.failure_count - 3) * 15, 240)
        return fields.Datetime.now() >= self.last_check + timedelta(minutes=delay)

    def _auto_commit(self):
        # never commit under tests: the test transaction is rolled back
        return not getattr(threading.current_thread(), "testing", False)

    def _fetch_locked(self):
        """Fetch this account under its advisory lock.

        The lock is session-level: it survives the per-batch commits and is
        released when the process dies, so a killed fetch never blocks.

        :return: the :class:`FetchRun`, or None when another process holds it
        """
        self.ensure_one()
        cr = self.env.cr
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.id))
        if not cr.fetchone()[0]:
            _logger.info("Account %s is being fetched elsewhere, skipped.", self.id)
            return None
        try:
            if self._auto_commit():
                # start a new transaction: the current snapshot may predate
                # the last commit of the process that held the lock, whose
                # checkpoints and mails it would not see
                cr.commit()  # pylint: disable=invalid-commit
            # re-read checkpoints: another process may have advanced them
            self.invalidate_recordset()
            self.folder_ids.invalidate_recordset()
            return self._fetch()
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, self.id))

    def _fetch(self):
        run = FetchRun(self, self.max_per_run or 50, ACCOUNT_BUDGET)
        error = False
        try:
            if self.protocol == "pop3":
                self._fetch_pop3(run)
            else:
                self._fetch_imap(run)
        except MailEngineError as exc:
            error = self._engine_error_message(exc)
            _logger.info("Fetch of account %s failed: %s", self.id, error)
        except psycopg2.OperationalError as exc:
            _logger.warning(
                "Fetch of account %s stopped by the database: %s", self.id, exc
            )
            error = self.env._(
                "The database interrupted the fetch (%s). Mails stored before "
                "stay; the next run fetches the rest.",
                str(exc).strip(),
            )
        except Exception as exc:  # noqa: BLE001 - one account never stops the others
            _logger.exception("Fetch of account %s failed.", self.id)
            error = self.env._("Unexpected error: %s", exc)
        if error and self._auto_commit():
            # drop the half batch; committed mails and checkpoints stay
            self.env.cr.rollback()
            run.counts, details_kept = dict(run.committed[0]), run.committed[1]
            run.details = run.details[:details_kept]
        self._finish_run(run, error)
        return run

    def _finish_run(self, run, error):
        counts = run.counts
        self.env["crm.mail.fetch.log"].create(
            {
                "account_id": self.id,
                "duration": time.monotonic() - run.started,
                "stored": counts["stored"],
                "quarantined": counts["quarantined"],
                "skipped_duplicate": counts["duplicate"],
                "skipped_self": counts["self"],
                "skipped_other": counts["other"],
                "more_pending": run.more,
                "error": error or False,
                "details": "\n".join(run.details[:1000]) or False,
            }
        )
        self.write(
            {
                "last_check": fields.Datetime.now(),
                "state": "error" if error else "ok",
                "last_error": error or False,
                "failure_count": self.failure_count + 1 if error else 0,
            }
        )
        if self._auto_commit():
            # the run's log and status survive whatever follows
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _commit_point(self, run, session):
        """Commit stored mails, then do what must follow the commit on the server.

        Flags and deletions wait for the commit: a crash before it refetches
        the mail (deduplicated), a crash after it finds the mail stored.
        """
        self.env.flush_all()
        if self._auto_commit():
            # checkpoint: the batch of mails and the folder's last UID together
            self.env.cr.commit()  # pylint: disable=invalid-commit
        run.committed = (dict(run.counts), len(run.details))
        run.since_commit = 0
        self._apply_server_actions(run, session)

    # ------------------------------------------------------------
    # IMAP
    # ------------------------------------------------------------

    def _fetch_imap(self, run):
        Folder = self.env["crm.mail.folder"]
        with ImapSession.open(self._incoming_config()) as session:
            infos = session.list_folders()
            Folder._sync_from_server(self, infos)
            names = set(Folder._fetch_names(self, infos))
            self._apply_pending_deletions(session)
            folders = self.folder_ids.filtered(lambda f: f.name in names)
            for folder in folders.sorted(lambda f: (f.sequence, f.name)):
                if run.out_of_budget():
                    break
                self._fetch_imap_folder(session, folder, run)
                self._delete_expired(session, folder, run)
                self._commit_point(run, session)

    def _fetch_imap_folder(self, session, folder, run):
        uidvalidity, uidnext = session.select(folder.name)
        since = None
        if folder.uidvalidity != uidvalidity:
            if folder.uidvalidity:
                # the server renumbered the folder: fetch it again from the
                # start; stored mails are recognised by Message-ID / hash
                _logger.warning(
                    "UIDVALIDITY of %s/%s changed (%s -> %s): resync.",
                    self.id,
                    folder.name,
                    folder.uidvalidity,
                    uidvalidity,
                )
            elif self.initial_days:
                since = date.today() - timedelta(days=self.initial_days)
            folder.write({"uidvalidity": uidvalidity, "last_uid": 0})
        _validity, uids = session.search_uids(
            folder.name, above_uid=folder.last_uid, since=since
        )
        if since is not None:
            # first sync of a window: older mail stays out for good
            floor = (min(uids) - 1) if uids else max(uidnext - 1, 0)
            folder.last_uid = floor
        if len(uids) > run.left:
            run.more = True
        uids = uids[: max(run.left, 0)]
        source = {"folder_id": folder.id, "imap_uidvalidity": uidvalidity}
        Message = self.env["crm.mail.message"]
        # the checkpoint is written once per commit point, not per mail (each
        # mail's savepoint would flush it: one UPDATE per mail); it still
        # commits in the same transaction as the mails it covers
        last_uid = None
        try:
            for fetched in session.fetch(folder.name, uids):
                outcome, detail = Message._ingest_raw(
                    self, fetched.raw, {**source, "imap_uid": fetched.uid}, run.cache
                )
                run.count(outcome, detail)
                last_uid = fetched.uid
                if self.mark_as_read:
                    run.to_mark_seen.append((folder.name, fetched.uid))
                # a routing rule may ask for it; done after the commit as well
                by_rule = run.cache.pop(DELETE_FROM_SERVER, False)
                if not self.keep_on_server or by_rule:
                    run.to_delete.append((folder.name, fetched.uid))
                if run.since_commit >= COMMIT_EVERY:
                    folder.last_uid, last_uid = last_uid, None
                    self._commit_point(run, session)
                if time.monotonic() > run.deadline:
                    run.more = True
                    break
        finally:
            # also on an error: the caller rolls back to the last commit
            # point anyway, and without auto-commit (tests) it keeps the mails
            if last_uid is not None:
                folder.last_uid = last_uid

    def _delete_expired(self, session, folder, run):
        """Queue the deletion of mail stored more than ``delete_after_days`` ago."""
        if self.keep_on_server is False or not self.delete_after_days:
            return
        limit = fields.Datetime.now() - timedelta(days=self.delete_after_days)
        expired = self.env["crm.mail.message"].search(
            [
                ("folder_id", "=", folder.id),
                ("imap_uidvalidity", "=", folder.uidvalidity),
                ("server_deleted", "=", False),
                ("create_date", "<", limit),
            ]
        )
        run.to_delete.extend((folder.name, m.imap_uid) for m in expired)

    def _apply_server_actions(self, run, session):
        Message = self.env["crm.mail.message"]
        if self.protocol == "pop3":
            for number in run.to_delete:
                session.delete(number)
            run.to_delete = []
            return
        by_folder = {}
        for name, uid in run.to_mark_seen:
            by_folder.setdefault(name, []).append(uid)
        for name, uids in by_folder.items():
            session.mark_seen(name, uids)
        by_folder = {}
        for name, uid in run.to_delete:
            by_folder.setdefault(name, []).append(uid)
        for name, uids in by_folder.items():
            session.delete(name, uids)
            Message.search(
                [
                    ("account_id", "=", self.id),
                    ("folder_id.name", "=", name),
                    ("imap_uid", "in", uids),
                ]
            ).write({"server_deleted": True})
        run.to_mark_seen, run.to_delete = [], []

    def _apply_pending_deletions(self, session):
        """Delete on the IMAP server the mails deleted in Odoo (see unlink)."""
        pending = self.env["crm.mail.server.deletion"].search(
            [("account_id", "=", self.id)]
        )
        for name in set(pending.mapped("folder_name")):
            rows = pending.filtered(lambda r, name=name: r.folder_name == name)
            try:
                uidvalidity, _uidnext = session.select(name)
            except MailEngineError:
                _logger.info("Folder %s of account %s is gone.", name, self.id)
                rows.unlink()
                continue
            uids = [r.imap_uid for r in rows if r.imap_uidvalidity == uidvalidity]
            if uids:
                session.delete(name, uids)
            rows.unlink()

    # ------------------------------------------------------------
    # POP3
    # ------------------------------------------------------------

    def _fetch_pop3(self, run):
        Seen = self.env["crm.mail.pop3.uidl"]
        Message = self.env["crm.mail.message"]
        with Pop3Session.open(self._incoming_config()) as session:
            on_server = session.uidl()
            seen = Seen.search([("account_id", "=", self.id)])
            # forget messages gone from the server: the table stays small
            seen.filtered(lambda s: s.uidl not in on_server).unlink()
            known = {s.uidl: s for s in seen if s.uidl in on_server}
            new = sorted((n, u) for u, n in on_server.items() if u not in known)
            if len(new) > run.left:
                run.more = True
            for number, uidl in new[: max(run.left, 0)]:
                raw = session.retrieve(number)
                outcome, detail = Message._ingest_raw(
                    self, raw, {"pop3_uidl": uidl}, run.cache
                )
                run.count(outcome, detail)
                Seen.create({"account_id": self.id, "uidl": uidl, "outcome": outcome})
                by_rule = run.cache.pop(DELETE_FROM_SERVER, False)
                if not self.keep_on_server or by_rule:
                    run.to_delete.append(number)
                if run.since_commit >= COMMIT_EVERY:
                    self._commit_point(run, session)
                if time.monotonic() > run.deadline:
                    run.more = True
                    break
            deletions = self.env["crm.mail.server.deletion"].search(
                [("account_id", "=", self.id)]
            )
            run.to_delete.extend(
                on_server[d.pop3_uidl] for d in deletions if d.pop3_uidl in on_server
            )
            deletions.unlink()
            if self.keep_on_server and self.delete_after_days:
                limit = fields.Datetime.now() - timedelta(days=self.delete_after_days)
                run.to_delete.extend(
                    on_server[s.uidl] for s in known.values() if s.date < limit
                )
            self._commit_point(run, session)

    @api.model
    def _set_fetch_jobs(self, jobs):
        """Make ``jobs`` cron jobs that split the accounts between them.

        Odoo never runs one cron job in two workers at once, so parallel
        fetching needs several jobs; each takes the accounts whose
        ``id % jobs == job``.
        """
        jobs = max(int(jobs or 1), 1)
        main = self.env.ref("crm_mail_client.ir_cron_fetch_mail").sudo()
        extra = self._fetch_crons() - main
        main.code = (
            "model._cron_fetch_mail()"
            if jobs == 1
            else (f"model._cron_fetch_mail(job=0, jobs={jobs})")
        )
        extra.unlink()
        for job in range(1, jobs):
            main.copy(
                {
                    "name": f"{main.name} ({job + 1}/{jobs})",
                    "code": f"model._cron_fetch_mail(job={job}, jobs={jobs})",
                    "active": main.active,
                }
            )
