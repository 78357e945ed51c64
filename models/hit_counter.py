"""Hit counters of rows every fetch may touch (routing rules, blacklist).

A global rule or blacklist entry is hit by every account, and accounts are
fetched by parallel cron jobs: a plain UPDATE of the counter would make two
fetches wait for, and then abort, one another. Hits are added without
waiting: a row locked (or just updated) by another fetch is skipped and its
hits stay pending for the next flush of the run.
"""

import logging

import psycopg2

from odoo.tools import SQL

_logger = logging.getLogger(__name__)


def flush_hits(model, hits):
    """Add pending hits to ``hit_count`` (and set ``last_hit``) of ``model``.

    :param model: the model whose table has ``hit_count`` and ``last_hit``
    :param dict hits: record id -> hits not yet counted; emptied of what
        was written
    """
    if not hits:
        return
    table = SQL.identifier(model._table)
    try:
        with model.env.cr.savepoint(flush=False):
            model.env.cr.execute(
                SQL(
                    """UPDATE %(table)s r
                          SET hit_count = COALESCE(r.hit_count, 0) + h.n,
                              last_hit = (now() at time zone 'UTC')
                         FROM (SELECT unnest(%(ids)s::int[]) AS id,
                                      unnest(%(counts)s::int[]) AS n) h
                        WHERE r.id = h.id
                          AND r.id IN (SELECT id FROM %(table)s
                                        WHERE id = ANY(%(ids)s::int[])
                                          FOR UPDATE SKIP LOCKED)
                    RETURNING r.id""",
                    table=table,
                    ids=list(hits),
                    counts=list(hits.values()),
                )
            )
            done = [row[0] for row in model.env.cr.fetchall()]
    except psycopg2.errors.SerializationFailure:
        _logger.debug("%s counters busy, kept for later.", model._name)
        return
    for record_id in done:
        hits.pop(record_id, None)
    model.browse(done).invalidate_recordset(["hit_count", "last_hit"])
