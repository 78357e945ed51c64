"""How long a cron job of ours may run: a share of Odoo's own time limits.

Odoo kills a prefork cron worker whose pass over a database takes longer
than ``limit_time_real_cron`` (which defaults to ``limit_time_real``,
120 s) and stops one that spends ``limit_time_cpu`` (60 s) of CPU; a cron
job that reports remaining work is run again up to 10 times in the same
pass. A job of ours therefore gives all its batches of one pass a share of
the smallest limit, and hands the rest to its next pass by a trigger.
"""

import time
import weakref

import psycopg2

from odoo.exceptions import UserError
from odoo.tools import SQL, config

#: share of the smallest time limit our cron jobs use per pass, together
#: (Odoo's limits cover a whole pass over the database, every job in it): the
#: rest is for the network command in flight when a budget ends (bounded by
#: the account's timeout) and for the other addons' jobs
CRON_SHARE = 0.6
#: models whose cron jobs share :data:`CRON_SHARE`
CRON_MODELS = ("crm.mail.account", "crm.mail.message", "crm.mail.mass.job")
#: seconds per pass when no limit is set (threaded server, limits at 0)
UNLIMITED_BUDGET = 300
#: the deadline of the cron job run on a cursor: Odoo runs the batches of
#: one job on one cursor, and they share one budget
_JOB_DEADLINES = weakref.WeakKeyDictionary()


def cron_budget(jobs=1):
    """Seconds one cron job may use in one pass, from the server's limits.

    :param int jobs: our active cron jobs, which may all run in one pass
    :return: :data:`CRON_SHARE` of the smallest of ``limit_time_real_cron``
        (or ``limit_time_real`` when it is -1) and, in prefork mode,
        ``limit_time_cpu``, divided between the jobs
    """
    real = config.get("limit_time_real_cron")
    if real is None or real < 0:
        real = config.get("limit_time_real") or 0
    limits = [real] if real > 0 else []
    cpu = config.get("limit_time_cpu") or 0
    if config.get("workers") and cpu > 0:
        limits.append(cpu)
    if not limits:
        return UNLIMITED_BUDGET
    return min(limits) * CRON_SHARE / max(jobs, 1)


def job_deadline(env):
    """When the current cron job must have finished all its batches.

    Called from a cron job (``cron_id`` in the context), the deadline is
    shared by the batches Odoo runs back to back on the job's cursor;
    called otherwise (a button, a test), it is this call's own.

    :param env: the environment of the call
    :return: a ``time.monotonic()`` value
    """
    if not env.context.get("cron_id"):
        return time.monotonic() + cron_budget()
    deadline = _JOB_DEADLINES.get(env.cr)
    if deadline is None:
        jobs = (
            env["ir.cron"]
            .sudo()
            .search_count(
                [("active", "=", True), ("model_id.model", "in", CRON_MODELS)]
            )
        )
        deadline = _JOB_DEADLINES[env.cr] = time.monotonic() + cron_budget(jobs)
    return deadline


def continue_later(env, crons):
    """Have ``crons`` run again in their next pass, as soon as possible.

    A trigger at "now" (dated after the pass started, so Odoo's
    rescheduling keeps it) also wakes the cron workers when committed.

    :param env: the environment of the call
    :param crons: ``ir.cron`` records; the running job when in a cron
    """
    cron_id = env.context.get("cron_id")
    if cron_id:
        crons = env["ir.cron"].sudo().browse(cron_id)
    for cron in crons:
        cron._trigger()


def run_batches(env, cron_xmlid, batch):
    """Call ``batch()`` until it says there is nothing more to do, or the
    job's budget is spent; each batch is committed (never under tests).

    WARNING: commits - meant for cron jobs, whose work is kept batch by
    batch whatever the next one meets.

    :param env: the environment of the job
    :param str cron_xmlid: the job, run again soon when work is left
    :param batch: a callable doing one batch; returns False when it found
        nothing to do
    :return: True when everything was done
    """
    deadline = job_deadline(env)
    auto_commit = env["crm.mail.account"]._auto_commit()
    while batch():
        if auto_commit:
            env.cr.commit()  # pylint: disable=invalid-commit
        if time.monotonic() > deadline:
            continue_later(env, env.ref(cron_xmlid))
            return False
    return True


def lock_for_change(crons):
    """Lock ``crons`` before changing them, or say why it cannot be now.

    Odoo locks the row of a running job; writing or deleting it would wait
    and then roll the whole transaction back. A user changing a setting of
    ours gets a clear message instead, and nothing else of his is lost.

    :param crons: ``ir.cron`` records about to be written or deleted
    :raise UserError: when one of them is running
    """
    if not crons:
        return
    try:
        with crons.env.cr.savepoint(flush=False):
            crons.env.cr.execute(
                SQL(
                    "SELECT id FROM ir_cron WHERE id IN %s FOR NO KEY UPDATE NOWAIT",
                    tuple(crons.ids),
                )
            )
    except psycopg2.errors.LockNotAvailable as error:
        raise UserError(
            crons.env._(
                "The job %(jobs)s is running right now; its schedule cannot "
                "change until it ends. Try again in a minute.",
                jobs=", ".join(crons.mapped("name")),
            )
        ) from error
