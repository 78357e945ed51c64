import logging
import time
from datetime import timedelta

from odoo import fields, models

from ..mail_engine.exceptions import MailEngineError, ProtocolError
from ..mail_engine.pop3_session import Pop3Session
from .crm_mail_account_fetch import SAFE_OUTCOMES

_logger = logging.getLogger(__name__)


class CrmMailAccount(models.Model):
    """POP3: every message whose UIDL was never processed, in server order."""

    _inherit = "crm.mail.account"

    def _fetch_pop3(self, run):
        Seen = self.env["crm.mail.pop3.uidl"]
        Retry = self.env["crm.mail.fetch.retry"]
        with Pop3Session.open(self._incoming_config()) as session:
            on_server = session.uidl()
            known = Seen._known(self, on_server)
            retries = {
                r.pop3_uidl: r
                for r in Retry.search(
                    [("account_id", "=", self.id), ("pop3_uidl", "!=", False)]
                )
            }
            for uidl in set(retries) - set(on_server):
                retries.pop(uidl).unlink()  # gone from the server
            new = sorted((n, u) for u, n in on_server.items() if u not in known)
            if len(new) > run.left:
                run.more = True
            # stored in batches; a UIDL is recorded as processed with its
            # mail, in the same commit
            pending, pending_bytes = [], 0
            try:
                for number, uidl in new[: max(run.left, 0)]:
                    raw = self._retrieve_pop3(session, run, number, uidl, retries)
                    if raw is None:
                        continue
                    pending.append((raw, {"pop3_uidl": uidl}))
                    pending_bytes += len(raw)
                    late = time.monotonic() > run.deadline
                    if late or run.batch_full(pending, pending_bytes):
                        self._ingest_pop3(run, pending)
                        pending_bytes = 0
                        self._commit_point(run)
                    if late:
                        run.more = True
                        break
            except MailEngineError:
                # the server failed (it dropped us, say): what it gave and
                # refused so far is kept, so that the next run goes further
                self._ingest_pop3(run, pending)
                self._commit_point(run)
                raise
            self._ingest_pop3(run, pending)
            self._commit_point(run)
            self._apply_pop3_actions(session, on_server)

    def _retrieve_pop3(self, session, run, number, uidl, retries):
        """One message's bytes, or None when the server refused it (then
        queued for a retry, or kept as a stub after too many refusals)."""
        source = {"pop3_uidl": uidl}
        try:
            raw = session.retrieve(number)
        except ProtocolError as exc:
            # -ERR for this message only: the session goes on
            stub = self._refused(
                run,
                source,
                str(exc.detail or exc),
                f"POP3 {uidl}",
                retry=retries.get(uidl),
            )
            if stub:  # kept in Quarantine: processed for good
                self.env["crm.mail.pop3.uidl"].create(
                    {"account_id": self.id, "uidl": uidl, "outcome": "refused"}
                )
            return None
        if uidl in retries:
            retries.pop(uidl).unlink()
        return raw

    def _ingest_pop3(self, run, pending):
        """Store a batch of retrieved mails and record their UIDLs."""
        items = self._ingest_pending(run, pending)
        self.env["crm.mail.pop3.uidl"].create(
            [
                {
                    "account_id": self.id,
                    "uidl": item.source["pop3_uidl"],
                    "outcome": item.outcome[0],
                }
                for item in items
            ]
        )

    def _expired_pop3_uidls(self, on_server):
        """UIDLs on the server processed more than ``delete_after_days`` ago."""
        if not self.keep_on_server or not self.delete_after_days:
            return []
        limit = fields.Datetime.now() - timedelta(days=self.delete_after_days)
        return self.env["crm.mail.pop3.uidl"]._processed_before(
            self, list(on_server), limit, SAFE_OUTCOMES
        )
