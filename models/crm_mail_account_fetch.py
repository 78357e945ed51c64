import contextlib
import logging
import threading
import time
from datetime import timedelta

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..mail_engine.exceptions import MailEngineError
from .crm_mail_fetch_retry import MAX_REFUSALS
from .cron_limits import continue_later, job_deadline, lock_for_change

_logger = logging.getLogger(__name__)

#: first key of the PostgreSQL advisory locks taken per account ("CRMM")
LOCK_CLASS = 0x43524D4D
#: mails stored together (one batch: a few statements for all of them)
#: and committed together
COMMIT_EVERY = 50
#: a batch is stored early once its mails hold this many bytes (memory)
BATCH_BYTES = 16 * 1024 * 1024
#: seconds one account may fetch in one run
ACCOUNT_BUDGET = 30
#: an account is not started with less time than this left in a cron pass
MIN_ACCOUNT_SECONDS = 2
#: outcomes whose mail is safe in the database (stored, quarantined, or a
#: copy already stored): only these may be marked read or deleted on the
#: server by the account's settings
SAFE_OUTCOMES = ("stored", "quarantined", "duplicate")


class FetchRun:
    """Counters and pending server actions of one account's fetch run."""

    def __init__(self, account, limit, deadline):
        self.account = account
        self.left = limit
        self.deadline = deadline
        self.started = time.monotonic()
        self.counts = dict.fromkeys(
            ("stored", "quarantined", "duplicate", "refused", "other"), 0
        )
        self.details = []
        self.cache = {}  # per-run data of the ingestion (compiled blacklist)
        # what the last commit made safe: a rollback goes back to it
        self.committed = (dict(self.counts), 0)
        self.more = False
        self.since_commit = 0
        self.error_code = None  # the engine's code of the error that ended it
        # server actions (``crm.mail.server.action`` values) queued with the
        # mails they concern at the next commit point
        self.actions = []
        # the child process parsing ahead (``mail_engine.parse_worker``),
        # started for the first folder with more than a batch to fetch
        self.parse_worker = None
        # it failed once: the rest of the run parses here
        self.parse_worker_failed = False

    def close(self):
        """Stop what the run started (its parse worker)."""
        if self.parse_worker:
            self.parse_worker.close()
            self.parse_worker = None

    def out_of_budget(self):
        if self.left <= 0 or time.monotonic() > self.deadline:
            self.more = True
        return self.more

    def batch_full(self, pending, size):
        """Whether fetched mails waiting to be stored (``pending``, of
        ``size`` bytes) make a batch: stored and committed now."""
        return self.since_commit + len(pending) >= COMMIT_EVERY or size >= BATCH_BYTES

    def count(self, outcome, detail):
        key = outcome if outcome in self.counts else "other"
        self.counts[key] += 1
        self.left -= 1
        self.since_commit += 1
        if outcome not in ("stored",):
            self.details.append(f"{outcome}: {detail}")


class CrmMailAccount(models.Model):
    """Fetching: the cron, "Fetch now", one account's run under its lock.

    The protocols live in ``crm_mail_account_fetch_imap.py`` and
    ``crm_mail_account_fetch_pop3.py``, what is done on the server after
    the commit in ``crm_mail_account_server_sync.py``.
    """

    _inherit = "crm.mail.account"

    # ------------------------------------------------------------
    # ENTRY POINTS
    # ------------------------------------------------------------

    @api.model
    def _cron_fetch_mail(self, job=0, jobs=1):
        """Fetch new mail of every active account (of this job's share).

        WARNING: meant for cron usage only - commits after each small batch
        of mails, so that a crash keeps what was stored. All the batches
        Odoo runs in one pass share a budget derived from the server's time
        limits (see ``cron_limits.py``); what is left waits for the next
        pass, which a trigger starts at once.

        :param int job: index of this cron job, 0 <= job < jobs
        :param int jobs: number of cron jobs splitting the accounts
        """
        deadline = job_deadline(self.env)
        accounts = self.sudo().search(
            [("active", "=", True), ("use_for_receiving", "=", True)]
        )
        accounts = accounts.filtered(
            lambda a: a.id % max(jobs, 1) == job and a._is_due() and a._interval_due()
        )
        accounts = accounts.sorted(
            lambda a: (a.last_check or fields.Datetime.from_string("1970-01-01"), a.id)
        )
        done = more = 0
        for index, account in enumerate(accounts):
            left = deadline - time.monotonic()
            # the first account of a call always gets what is left, however
            # small a budget a low limit gives: the backlog moves on
            if left <= 0 or (index and left < MIN_ACCOUNT_SECONDS):
                more += len(accounts) - index
                break
            run = account.with_context(lang=account._cron_lang())._fetch_locked(
                deadline=time.monotonic() + min(ACCOUNT_BUDGET, left)
            )
            done += 1
            more += bool(run and run.more)
        if more and deadline - time.monotonic() < MIN_ACCOUNT_SECONDS:
            # this pass is over: the next one takes the rest, right away
            continue_later(self.env, self._fetch_crons())
            more = 0
        self.env["ir.cron"]._notify_progress(done=done, remaining=more)

    def action_fetch_now(self):
        """Fetch one batch now; the cron takes the rest right after."""
        runs = []
        for account in self.sudo():
            if not account.use_for_receiving:
                raise UserError(
                    self.env._(
                        "%s is not used for receiving: turn on Use for "
                        "Receiving to fetch it.",
                        account.name,
                    )
                )
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
            for cron in self._fetch_crons():
                cron._trigger()
        failed = [run.account for run in runs if run.account.state == "error"]
        stored = sum(run.counts["stored"] for run in runs)
        message = self.env._("New mail: %(stored)s.", stored=stored)
        if any(run.more for run in runs):
            message += " " + self.env._("More mail follows in the background.")
        for account in failed:
            message += f"\n{account.name}: {account.last_error}"
        return self._notification(
            self.env._("Mail fetched"), message, "warning" if failed else "success"
        )

    @api.model
    def action_fetch_all(self):
        """Settings: fetch every account now, in the background.

        Every account in one HTTP request would outlast the request's time
        limit: the fetch cron runs at once instead, and each account's form
        tells when it was last checked.
        """
        accounts = self.sudo().search(
            [("active", "=", True), ("use_for_receiving", "=", True)]
        )
        accounts.filtered(lambda a: a.state == "error").write({"failure_count": 0})
        for cron in self._fetch_crons().filtered("active"):
            cron._trigger()
        return self._notification(
            self.env._("Fetching started"),
            self.env._(
                "The %(count)s active accounts are being fetched in the "
                "background; their Last Check shows when each is done.",
                count=len(accounts),
            ),
            "info",
        )

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
        """A failing account is retried less and less often (up to 4 hours);
        a new mailbox waiting for its first sign-in (OAuth2) is left alone."""
        if (
            self.auth_method != "password"
            and self.state == "draft"
            and not self.oauth_connected
        ):
            return False
        if self.failure_count < 3 or not self.last_check:
            return True
        delay = min(2 ** (self.failure_count - 3) * 15, 240)
        return fields.Datetime.now() >= self.last_check + timedelta(minutes=delay)

    def _interval_due(self):
        """The account's own *Fetch Every* has passed since its last check."""
        if not self.fetch_interval or not self.last_check:
            return True
        return fields.Datetime.now() >= self.last_check + timedelta(
            minutes=self.fetch_interval
        )

    def _auto_commit(self):
        # never commit under tests: the test transaction is rolled back
        return not getattr(threading.current_thread(), "testing", False)

    @contextlib.contextmanager
    def _fetch_lock(self):
        """Hold this account's advisory lock; yield whether it was free.

        The lock lives on a connection of its own: it survives the fetch's
        commits and rollbacks (a database error in the fetch never leaves it
        held on a pooled connection), and dies with the process.
        """
        self.ensure_one()
        lock_cr = self.env.registry.cursor()
        try:
            lock_cr.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.id)
            )
            got = lock_cr.fetchone()[0]
            # end the lock cursor's transaction: the session lock stays
            lock_cr.commit()
            try:
                yield got
            finally:
                if got:
                    lock_cr.execute(
                        "SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, self.id)
                    )
                    lock_cr.commit()
        finally:
            lock_cr.close()

    def _fetch_locked(self, deadline=None):
        """Fetch this account under its advisory lock.

        :param float deadline: ``time.monotonic()`` by which the run ends
            (default: :data:`ACCOUNT_BUDGET` from now)
        :return: the :class:`FetchRun`, or None when another process holds it
        """
        self.ensure_one()
        with self._fetch_lock() as got:
            if not got:
                _logger.info("Account %s is being fetched elsewhere, skipped.", self.id)
                return None
            if self._auto_commit():
                # start a new transaction: the current snapshot may predate
                # the last commit of the process that held the lock, whose
                # checkpoints and mails it would not see
                self.env.cr.commit()  # pylint: disable=invalid-commit
            # re-read checkpoints: another process may have advanced them
            self.invalidate_recordset()
            self.folder_ids.invalidate_recordset()
            newest = self._newest_message_id()
            run = self._fetch(deadline or time.monotonic() + ACCOUNT_BUDGET)
            if run and run.counts["stored"]:
                self._notify_new_mail(newest)
            return run

    def _newest_message_id(self):
        """The newest mail id of all accounts (one probe of the primary key;
        this account's mail stored by this run comes after it: the account
        is fetched by one process at a time)."""
        self.env.cr.execute("SELECT max(id) FROM crm_mail_message")
        return self.env.cr.fetchone()[0] or 0

    def _notify_new_mail(self, after_id):
        """Tell the open screens of each user who may read some of the mail
        stored after ``after_id`` (their own record rules decide, user by
        user: nobody else hears of it) that new mail arrived."""
        Message = self.env["crm.mail.message"].sudo()
        # what the fetch stored (not a draft written meanwhile)
        new = Message.search(
            [
                ("account_id", "=", self.id),
                ("id", ">", after_id),
                ("state", "in", ("received", "quarantined")),
            ]
        )
        if not new:
            return
        managers = self.env.ref("crm_mail_client.group_mail_manager").sudo().users
        candidates = (
            self.sudo().user_id | self.sudo().access_ids.member_ids | managers
        ).filtered(lambda u: u.active and not u.share)
        for user in candidates:
            # his rules in his companies (the fetching user's may differ)
            as_user = new.with_user(user).with_context(
                allowed_company_ids=user.company_ids.ids
            )
            readable = as_user._filtered_access("read")
            if readable:
                linked = readable.sudo()
                user._bus_send(
                    "crm_mail_client/new_mail",
                    {
                        "account_id": self.id,
                        "count": len(readable),
                        # the open Mail tabs of these gain the mail
                        "partner_ids": (linked.partner_id | linked.contact_id).ids,
                        "lead_ids": linked.lead_id.ids,
                    },
                )

    def _fetch(self, deadline):
        run = FetchRun(self, self.max_per_run or 50, deadline)
        error = False
        try:
            if self.auth_method != "password":
                # renewed now, and committed (the fetch committed just before)
                self._oauth_access_token(commit=self._auto_commit())
            if self.protocol == "pop3":
                self._fetch_pop3(run)
            else:
                self._fetch_imap(run)
        except MailEngineError as exc:
            error = self._engine_error_message(exc)
            run.error_code = exc.code
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
        finally:
            run.close()
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
                "refused": counts["refused"],
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
                "last_error_code": (run.error_code or "error") if error else False,
                "failure_count": self.failure_count + 1 if error else 0,
            }
        )
        if self._auto_commit():
            # the run's log and status survive whatever follows
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _ingest_pending(self, run, pending, parsed=None):
        """Store the fetched mails of ``pending`` (``(raw, source)`` pairs)
        as one batch, count them and queue what the server is to do with
        them; ``pending`` is emptied.

        :param list parsed: the mails as a parse worker parsed them
            (see ``crm.mail.message._ingest_batch``)
        :return: the ``Incoming`` mails, with their outcomes
        """
        if not pending:
            return []
        items = self.env["crm.mail.message"]._ingest_batch(
            self, list(pending), run.cache, parsed=parsed
        )
        pending.clear()
        for item in items:
            outcome, detail = item.outcome
            run.count(outcome, detail)
            self._after_ingest(run, outcome, item.source, delete=item.delete)
        return items

    def _after_ingest(self, run, outcome, source, delete):
        """What the settings and rules ask the server to do with a mail
        just processed: queued with it, done after the commit.

        Only mail safe in the database (stored, quarantined, or a copy
        already stored) is marked read or deleted by the account's
        settings; a mail that was not stored (blacklisted, ignored) is
        deleted only when a routing rule says so.

        :param bool delete: a routing rule asked to delete it
        """
        safe = outcome in SAFE_OUTCOMES
        if delete or (safe and not self.keep_on_server):
            action = "delete"
        elif safe and self.mark_as_read and self.protocol == "imap":
            action = "seen"
        else:
            return
        run.actions.append({"account_id": self.id, "action": action, **source})

    def _refused(self, run, source, error, where, retry=None):
        """A message the server would not give: retried in later runs, and
        kept as a stub in Quarantine after :data:`MAX_REFUSALS` of them.

        :param dict source: its place (``crm.mail.message`` values)
        :param str error: the server's answer
        :param str where: folder and UID, or UIDL, for the log
        :param retry: its ``crm.mail.fetch.retry`` when already known
        :return: True when it is now kept as a stub (done with for good)
        """
        _logger.warning(
            "Account %s: the server did not give %s: %s", self.id, where, error
        )
        Retry = self.env["crm.mail.fetch.retry"]
        retry = retry or Retry.search(
            [("account_id", "=", self.id)]
            + [(name, "=", value) for name, value in source.items()],
            limit=1,
        )
        if retry:
            retry.write({"attempts": retry.attempts + 1, "error": error})
        else:
            retry = Retry.create({"account_id": self.id, "error": error, **source})
        if retry.attempts >= MAX_REFUSALS:
            self.env["crm.mail.message"]._refused_stub(
                self, source, error, retry.attempts
            )
            retry.unlink()
            run.count("quarantined", f"{where}: {error}")
            return True
        run.count("refused", f"{where}: {error}")
        return False

    def _commit_point(self, run):
        """Commit stored mails with their checkpoint and pending server actions.

        Flags and deletions are done on the server only after this commit,
        from the queue (``crm.mail.server.action``): a crash before it
        fetches the mails again (deduplicated), a crash after it finds them
        stored and their actions still queued.
        """
        self.env["crm.mail.server.action"]._queue(run.actions)
        run.actions = []
        self.env.flush_all()
        if self._auto_commit():
            # checkpoint: the batch of mails and the folder's last UID together
            self.env.cr.commit()  # pylint: disable=invalid-commit
        run.committed = (dict(run.counts), len(run.details))
        run.since_commit = 0

    @api.model
    def _set_fetch_jobs(self, jobs):
        """Make ``jobs`` cron jobs that split the accounts between them.

        Odoo never runs one cron job in two workers at once, so parallel
        fetching needs several jobs; each takes the accounts whose
        ``id % jobs == job``. Nothing is written when the jobs are already
        so (a running job's row is locked: rewriting it would fail).
        """
        jobs = max(int(jobs or 1), 1)
        main = self.env.ref("crm_mail_client.ir_cron_fetch_mail").sudo()
        extra = self._fetch_crons() - main
        code = (
            "model._cron_fetch_mail()"
            if jobs == 1
            else f"model._cron_fetch_mail(job=0, jobs={jobs})"
        )
        wanted = {
            f"model._cron_fetch_mail(job={job}, jobs={jobs})" for job in range(1, jobs)
        }
        if main.code == code and set(extra.mapped("code")) == wanted:
            return
        lock_for_change(main | extra)
        main.code = code
        actions = extra.ir_actions_server_id
        extra.unlink()
        # a cron's server action outlives it: no orphan left behind
        actions.unlink()
        for job in range(1, jobs):
            main.copy(
                {
                    "name": f"{main.name} ({job + 1}/{jobs})",
                    "code": f"model._cron_fetch_mail(job={job}, jobs={jobs})",
                    "active": main.active,
                }
            )
