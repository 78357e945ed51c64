import hashlib
import logging
import socket
from collections import defaultdict
from concurrent import futures
from dataclasses import dataclass, replace

import psycopg2

from odoo import api, fields, models

from ..mail_engine import mime
from ..mail_engine.classify import classify
from ..mail_engine.exceptions import ParseError
from .crm_mail_message import SERVER_STATES
from .crm_mail_message_list import make_snippet
from .crm_mail_message_rules import POST_ON_LEAD

_logger = logging.getLogger(__name__)

STORED, QUARANTINED, DUPLICATE = "stored", "quarantined", "duplicate"
BLACKLISTED = "blacklisted"
#: a Message-ID already stored, on different bytes: skipped, never deleted
OTHER_CONTENT = "same_message_id_other_content"
#: a routing rule said not to store it
IGNORED = "ignored"
#: Odoo writes its own host name into the Message-IDs of its notifications
OWN_HOSTS = (socket.gethostname(),)
#: the unique index that refuses a second copy of one mail in an account
DEDUPE_INDEX = "crm_mail_message_dedupe_uniq"
#: server places of a mail: a collision there is not a copy of the mail
PLACE_FIELDS = ("imap_uid", "pop3_uidl")
#: dedupe key prefix of the stub of a mail the server refused to give
REFUSED_KEY = "refused:"
#: errors the database raises for the mail's own values (one over the size
#: an index can hold: a 3,000-character sender): the mail is quarantined,
#: where any other operational error stops the fetch
MAIL_DATA_ERRORS = (psycopg2.errors.ProgramLimitExceeded,)
#: threads writing a batch's attachment files while its mails are created
#: (a file write waits on the disk, not on the interpreter lock)
_FILE_WRITERS = futures.ThreadPoolExecutor(
    max_workers=2, thread_name_prefix="crm_mail_files"
)


@dataclass(eq=False)
class Incoming:
    """One fetched mail on its way through :meth:`_ingest_batch`."""

    raw: bytes
    #: its place on the server (``crm.mail.message`` values)
    source: dict
    parsed: object = None
    #: the dedupe key: its Message-ID, else a hash of its bytes
    key: str = None
    direction: str = None
    #: fetched from the server's spam folder
    spam: bool = False
    #: the ``crm.mail.rule`` records that fired, in order
    rules: object = None
    #: the classifier's verdict (``mail_engine.classify``)
    kind: object = None
    #: (outcome, detail) once it is decided (see ``_ingest_raw``)
    outcome: tuple = None
    #: a routing rule asked to delete it from the server
    delete: bool = False


def _database_fault(error):
    """Whether storing failed for the database, not the mail: a
    serialization failure, a lock or statement timeout, a lost connection.
    The fetch then stops at its last commit point, and the next run
    fetches the mails again (a mail of its own is quarantined instead)."""
    return isinstance(error, psycopg2.OperationalError) and not isinstance(
        error, MAIL_DATA_ERRORS
    )


def _place(source):
    """The server place of a mail given as ``source`` values, or None."""
    if source.get("pop3_uidl"):
        return ("pop3", source["pop3_uidl"])
    if source.get("imap_uid"):
        return (
            "imap",
            source.get("folder_id"),
            source.get("imap_uidvalidity"),
            source["imap_uid"],
        )
    return None


def _segments(items):
    """Split a batch where a mail is a copy or an answer of an earlier one
    of the same segment: stored together, the later one would find neither
    the copy nor its parent."""
    segment, keys, message_ids = [], set(), set()
    for item in items:
        parsed = item.parsed
        refs = {parsed.in_reply_to, *parsed.references} - {None, ""}
        if segment and (item.key in keys or refs & message_ids):
            yield segment
            segment, keys, message_ids = [], set(), set()
        segment.append(item)
        keys.add(item.key)
        if parsed.message_id:
            message_ids.add(parsed.message_id)
    if segment:
        yield segment


class CrmMailMessage(models.Model):
    """From raw bytes to a stored mail: parse, classify, deduplicate, store."""

    _inherit = "crm.mail.message"

    attachment_note = fields.Text(
        readonly=True, help="Attachments that were not saved, and why."
    )
    server_deleted = fields.Boolean(readonly=True, copy=False)
    server_removed = fields.Boolean(
        string="Gone from the Server",
        readonly=True,
        copy=False,
        help="Deleted or moved away on the server by another mail program "
        "(found when the account syncs its read marks). The mail stays here.",
    )
    server_seen = fields.Boolean(
        readonly=True,
        copy=False,
        help="Read on the server, as last known (accounts that sync read marks).",
    )

    @api.model
    def _ingest_raw(self, account, raw, source, cache=None):
        """Store one raw mail fetched from an account, or say why not.

        Never raises for a bad mail: what cannot be parsed or stored is kept
        as a quarantined mail with its raw bytes attached.

        :param account: the ``crm.mail.account`` (sudo) it was fetched from
        :param bytes raw: the message as the server sent it
        :param dict source: where it came from: ``folder_id``, ``imap_uid``,
            ``imap_uidvalidity`` or ``pop3_uidl``
        :param dict cache: per-run cache (compiled blacklist and routing rules)
            kept by the caller
        :return: tuple (outcome, detail): outcome is one of ``stored``,
            ``quarantined``, ``duplicate`` (a copy is stored: found again at
            a new place, it moves there), ``blacklisted``, ``ignored`` (by a
            routing rule)
        """
        (item,) = self._ingest_batch(
            account, [(raw, source)], {} if cache is None else cache
        )
        return item.outcome

    @api.model
    def _ingest_batch(self, account, mails, cache, parsed=None):
        """Store raw mails fetched from an account, as :meth:`_ingest_raw`
        stores each, with a few statements for all of them.

        The mails are looked up (copies, threads, addresses) and created
        together. When the database refuses the batch, each of its mails
        is stored alone, in a savepoint of its own: one bad mail is
        quarantined alone, never taking its neighbours down.

        :param list mails: ``(raw, source)`` pairs, in the server's order
        :param dict cache: the run's cache (see :meth:`_ingest_raw`)
        :param list parsed: the mails as a parse worker parsed them (see
            ``mail_engine.parse_worker``), in the same order: a
            ``ParsedMessage``, a ``ParseError``, or None (parsed here)
        :return: list of :class:`Incoming`, in order, each with its
            ``outcome`` and whether a rule asked to ``delete`` it
        """
        items = [Incoming(raw, source) for raw, source in mails]
        if parsed is not None:
            for item, result in zip(items, parsed, strict=True):
                item.parsed = result
        ready = [item for item in items if self._prepare(account, item, cache)]
        for segment in _segments(ready):
            self._ingest_segment(account, segment, cache)
        return items

    @api.model
    def _prepare(self, account, item, cache):
        """Parse a mail (unless a parse worker did) and say whether it goes
        on to the database (it is not unreadable, nor blacklisted)."""
        try:
            if isinstance(item.parsed, ParseError):
                raise item.parsed
            if item.parsed is None:
                item.parsed = mime.parse(item.raw, **self._parse_options(account))
        except ParseError as error:
            item.outcome = self._quarantine(
                account, item.raw, item.source, self._parse_error_message(error)
            )
            return False
        parsed = item.parsed
        item.key = parsed.message_id or "sha256:" + hashlib.sha256(item.raw).hexdigest()
        item.direction = self._direction(account, parsed)
        if "blacklist" not in cache:
            cache["blacklist"] = self.env["crm.mail.blacklist"]._compiled(account)
        if item.direction == "incoming":
            entry = self.env["crm.mail.blacklist"]._hit(
                cache["blacklist"], parsed.email_from, cache
            )
            if entry:
                item.outcome = (BLACKLISTED, f"{parsed.email_from} ({entry.pattern})")
                return False
        return True

    @api.model
    def _parse_options(self, account):
        """How the account's mail is parsed (``mime.parse`` keywords)."""
        return {
            "save_attachments": account.save_attachments,
            "max_attachment_bytes": (account.max_attachment_mb or 0) * 1024 * 1024
            or None,
        }

    @api.model
    def _ingest_segment(self, account, segment, cache):
        """Mails of a batch none of which is a copy or an answer of another:
        one query finds their stored copies, one savepoint stores the rest."""
        stored = self._stored_copies_and_places(account, segment)
        copies = {mail.dedupe_key: mail for mail in stored}
        # a place (folder and UID, POP3 UIDL) another mail holds: such a
        # mail is stored alone, where the conflict is settled (see
        # _store_conflict), not in the batch it would make fail
        taken = {_place(mail._server_place()) for mail in stored} - {None}
        Rule = self.env["crm.mail.rule"]
        new, alone = [], []
        for item in segment:
            duplicate = copies.get(item.key)
            if duplicate:
                if duplicate.size and duplicate.size != len(item.raw):
                    # a sender reusing a Message-ID: not a copy of what is
                    # stored, so nothing tells the server it may go
                    item.outcome = (
                        OTHER_CONTENT,
                        f"{item.key} ({len(item.raw)} bytes, stored {duplicate.size})",
                    )
                else:
                    duplicate._found_again(item.source)
                    item.outcome = (DUPLICATE, item.key)
                continue
            # mail of the server's spam folder: kept in the Spam view,
            # unlinked, and no routing rule makes anything of it
            item.spam = self._is_junk_source(account, item.source, cache)
            rules = Rule
            if item.direction == "incoming" and not item.spam:
                rules = Rule._route(account, item.parsed, cache)
            item.rules = rules
            item.delete = any(rules.mapped("action_delete_from_server"))
            if any(rules.mapped("action_ignore")):
                names = ", ".join(rules.filtered("action_ignore").mapped("name"))
                item.outcome = (IGNORED, f"{item.key} ({names})")
                continue
            (alone if _place(item.source) in taken else new).append(item)
        Rule._flush_hits(cache)
        if len(new) > 1:
            try:
                with self.env.cr.savepoint():
                    self._store_parsed(account, new, cache)
            except Exception as error:  # noqa: BLE001 - each mail is stored alone below
                if _database_fault(error):
                    raise
                _logger.info(
                    "A batch of %s mails of account %s was refused: stored one by one.",
                    len(new),
                    account.id,
                    exc_info=True,
                )
            else:
                for item in new:
                    item.outcome = (STORED, item.key)
                new = []
        for item in new + alone:
            self._store_one(account, item, cache)

    @api.model
    def _stored_copies_and_places(self, account, segment):
        """Stored mails of the account with the key or the server place of
        a mail of ``segment`` (one query)."""
        domain = [("dedupe_key", "in", [item.key for item in segment])]
        uidls = [i.source["pop3_uidl"] for i in segment if i.source.get("pop3_uidl")]
        if uidls:
            domain = ["|", ("pop3_uidl", "in", uidls), *domain]
        uids = [i.source["imap_uid"] for i in segment if i.source.get("imap_uid")]
        if uids:
            folders = sorted({i.source.get("folder_id") for i in segment} - {None})
            domain = [
                "|",
                "&",
                ("folder_id", "in", folders),
                ("imap_uid", "in", uids),
                *domain,
            ]
        return self.search_fetch(
            [("account_id", "=", account.id), *domain],
            [
                "dedupe_key",
                "size",
                "folder_id",
                "imap_uidvalidity",
                "imap_uid",
                "pop3_uidl",
            ],
        )

    @api.model
    def _store_one(self, account, item, cache):
        """Store one mail in a savepoint of its own, or quarantine it."""
        try:
            with self.env.cr.savepoint():
                self._store_parsed(account, [item], cache)
        except psycopg2.IntegrityError as error:
            item.delete = False  # only a stored mail goes as its rules say
            item.outcome = self._store_conflict(
                account, item.raw, item.key, item.source, error
            )
            return
        except Exception as error:  # noqa: BLE001 - never lose a mail
            if _database_fault(error):
                raise
            self._store_failed(account, item, error)
            return
        item.outcome = (STORED, item.key)

    @api.model
    def _store_failed(self, account, item, error):
        """The mail could not be stored: quarantined with its bytes."""
        _logger.warning(
            "Mail %s of account %s could not be stored, quarantined.",
            item.key,
            account.id,
            exc_info=True,
        )
        reason = self.env._(
            "The mail was read but could not be stored: %(error)s",
            error=repr(error),
        )
        item.delete = False
        item.outcome = self._quarantine(
            account, item.raw, item.source, reason, key=item.key
        )

    @api.model
    def _direction(self, account, parsed):
        """Outgoing when the account wrote it to others; a mail to the
        account itself alone (a website form sends ``From: sales@`` ``To:
        sales@`` with the customer in ``Reply-To``, or a note to self) is
        incoming."""
        if parsed.email_from != account.email:
            return "incoming"
        # written to the account itself (a copy in Cc of a mail to a
        # customer is still our outgoing mail)
        to = {address for _name, address in parsed.to}
        return "incoming" if to == {account.email} else "outgoing"

    def _found_again(self, source):
        """The server gave this stored mail again, at ``source``: when it is
        the same folder renumbered (a new UIDVALIDITY), the mail moves to its
        new place, so that later flags and deletions reach it."""
        self.ensure_one()
        folder_id = source.get("folder_id")
        validity = source.get("imap_uidvalidity")
        if not folder_id or self.folder_id.id != folder_id:
            return
        if self.imap_uidvalidity == validity or not source.get("imap_uid"):
            return
        try:
            with self.env.cr.savepoint():
                self.sudo().write(
                    {
                        "imap_uidvalidity": validity,
                        "imap_uid": source["imap_uid"],
                        "server_deleted": False,
                        "server_removed": False,
                    }
                )
        except psycopg2.IntegrityError:
            _logger.info("Mail %s: its new place is taken, kept at the old.", self.id)

    @api.model
    def _store_conflict(self, account, raw, key, source, error):
        """The database refused the new mail: a copy, or a place taken?

        A copy (same Message-ID or same bytes in the account, stored by
        another process meanwhile) makes it a duplicate. Its server place
        (folder, UIDVALIDITY, UID or POP3 UIDL) held by another mail is no
        copy at all: a restored mailbox, or a server reusing ids. The mail
        is then quarantined without that place, never dropped.
        """
        constraint = getattr(getattr(error, "diag", None), "constraint_name", None)
        if constraint == DEDUPE_INDEX:
            return DUPLICATE, key
        place = ", ".join(
            f"{name} {source[name]}" for name in PLACE_FIELDS if source.get(name)
        )
        reason = self.env._(
            "The server gave this mail at a place (%(place)s) where another "
            "stored mail already is: a restored mailbox or a server reusing "
            "its ids. It is kept here so that nothing is lost. (%(error)s)",
            place=place,
            error=str(error).strip(),
        )
        unplaced = {k: v for k, v in source.items() if k not in PLACE_FIELDS}
        return self._quarantine(account, raw, unplaced, reason, key=key)

    @api.model
    def _store_parsed(self, account, items, cache):
        """Create the mail records and their attachments, linked to their
        partners: one INSERT for the mails, one for their attachments, one
        lookup of their threads and one of their addresses.

        :param list items: :class:`Incoming` mails of one segment (none a
            copy or an answer of another), parsed, their rules routed
        :param dict cache: the run's cache
        :return: the new ``crm.mail.message`` records, in order
        """
        # the files first, in threads: the disk works while the database does
        files = self._write_files_ahead(
            [
                att.data
                for item in items
                for att in item.parsed.attachments
                if att.data is not None
            ]
            + ([item.raw for item in items] if account.keep_original else [])
        )
        try:
            return self._create_mails(account, items, cache, files)
        finally:
            # a batch that fails is stored again mail by mail, each writing
            # its files: never while these writes still run
            futures.wait(files)

    @api.model
    def _create_mails(self, account, items, cache, files):
        """:meth:`_store_parsed`, its files being written (``files``)."""
        linked = [item for item in items if not item.spam]
        parents = self._thread_parents(account, [item.parsed for item in linked])
        found = self.env["crm.mail.address"]._find(
            sorted(
                {
                    address
                    for item in linked
                    for address in self._link_addresses_of(
                        account, item.parsed, item.direction
                    )
                    if address
                }
            ),
            account.company_id,
        )
        for item in items:
            item.kind = self._classify(account, item.parsed, cache)
        # the batch's unknown senders, made contacts (and companies) together
        new_senders = self._new_senders(account, linked, found, cache)
        made, recent = {}, {}
        vals_list, post_on_lead = [], []
        for item in items:
            vals = self._mail_vals(
                account, item, cache, parents, found, made, recent, new_senders
            )
            post_on_lead.append(vals.pop(POST_ON_LEAD, False))
            vals_list.append(vals)
        messages = self.create(vals_list)
        messages._adopt_orphans()
        att_vals, owners = [], []
        for item, message in zip(items, messages, strict=True):
            for att in item.parsed.attachments:
                if att.data is not None:
                    owners.append((message, att))
                    att_vals.append(
                        {
                            "name": att.filename,
                            "raw": att.data,
                            "mimetype": att.content_type,
                            "res_model": self._name,
                            "res_id": message.id,
                        }
                    )
            if account.keep_original:
                owners.append((message, None))
                att_vals.append(self._raw_attachment_vals(message, item.raw))
        for written in files:
            if written.exception():
                # the create below writes it
                _logger.info(
                    "Attachment file not written ahead: %s", written.exception()
                )
        # attachment_names was set with the mail: no UPDATE for the search
        attachments = (
            self.env["ir.attachment"]
            .with_context(crm_mail_attachment_names_set=True)
            .create(att_vals)
        )
        cid_urls = {}
        for (message, att), record in zip(owners, attachments, strict=True):
            if att and att.content_id:
                cid_urls.setdefault(message, {})[att.content_id] = (
                    f"/web/image/{record.id}"
                )
        for message, urls in cid_urls.items():
            message.body_html = mime.replace_cids(message.body_html, urls)
        for message, post in zip(messages, post_on_lead, strict=True):
            if post:
                message._post_on_lead()
        return messages

    @api.model
    def _write_files_ahead(self, datas):
        """Write the files of attachments about to be created into the
        filestore, in threads, as ``ir.attachment`` writes them (same
        names, same mark for the garbage collector, which removes a file
        no attachment ends up holding); the create then finds them there.

        :return: the writes' futures (none when attachments are stored in
            the database)
        """
        Attachment = self.env["ir.attachment"].sudo()
        if not datas or Attachment._storage() != "file":
            return []
        # the lock the attachments' INSERT takes anyway, taken now: the
        # filestore's garbage collector (LOCK ... IN SHARE MODE) waits for
        # this transaction, and never removes a file written here before
        # its attachment is created
        self.env.cr.execute("LOCK TABLE ir_attachment IN ROW EXCLUSIVE MODE")
        # one write per content: two threads writing one file would each
        # find the other's half-written file "colliding"
        unique = {Attachment._compute_checksum(data): data for data in datas}
        return [
            _FILE_WRITERS.submit(Attachment._file_write, data, checksum)
            for checksum, data in unique.items()
        ]

    @api.model
    def _classify(self, account, parsed, cache):
        """What kind of mail it is (robot, spam...), as users corrected
        the classifier for its sender."""
        kind = classify(parsed, own_message_id_domains=OWN_HOSTS)
        if self._not_robot(account, parsed.email_from, cache) and (
            kind.auto_kind or kind.is_spam
        ):
            # users said its sender is a person: the classifier's robot and
            # spam marks do not count
            kind = replace(kind, auto_kind=None, is_spam=False)
        return kind

    @api.model
    def _new_senders(self, account, items, found, cache):
        """Make the unknown senders of a batch's mails contacts (and their
        companies), all together, as the unknown-sender policy says.

        :param list items: the batch's linked :class:`Incoming` mails
        :param dict found: the address lookup of the batch
        :return: dict address -> (contact, company partner)
        """
        senders = {}
        for item in items:
            if item.direction != "incoming":
                continue
            address, name = self._sender(account, item.parsed)
            if (
                address
                and address not in found
                and address not in senders
                and self._may_create_partner(account, item.parsed, item.kind, cache)
            ):
                senders[address] = name
        if not senders:
            return {}
        return self._new_sender_partners(
            self.env["res.partner"].sudo(), account.company_id, senders
        )

    @api.model
    def _mail_vals(
        self, account, item, cache, parents, found, made, recent, new_senders
    ):
        """Values of one new mail (see :meth:`_store_parsed`), its routing
        rules applied."""
        parsed, direction, spam = item.parsed, item.direction, item.spam
        body = self._fields["body_html"]
        kind = item.kind
        vals = {
            "account_id": account.id,
            "direction": direction,
            "state": "spam" if spam else "received",
            "message_id": parsed.message_id,
            "dedupe_key": item.key,
            "in_reply_to": parsed.in_reply_to,
            "references": " ".join(parsed.references) or False,
            "date": parsed.date or fields.Datetime.now(),
            "email_from": parsed.email_from,
            "from_name": parsed.from_name,
            "email_to": parsed.email_to,
            "email_cc": parsed.email_cc,
            "email_bcc": parsed.email_bcc,
            "reply_to": parsed.reply_to,
            "subject": parsed.subject,
            "body_text": parsed.body_text,
            # in the INSERT: a later write would cost one UPDATE per mail;
            # sanitized here, once (the ORM would do it twice)
            "body_html": (
                body.from_text(parsed.body_html)
                if parsed.html_from_text
                else body.sanitized(parsed.body_html, self)
            ),
            # computed and related columns given here go into the INSERT:
            # else the ORM computes them after it, one UPDATE per mail
            "company_id": account.company_id.id,
            "snippet": make_snippet(parsed.body_text, parsed.body_html),
            "size": len(item.raw),
            "user_id": account.user_id.id,
            "has_attachments": any(a.data is not None for a in parsed.attachments),
            # what the attachments created below will hold: no second UPDATE
            "attachment_names": " ".join(
                [a.filename for a in parsed.attachments if a.data is not None]
                + (["original.eml"] if account.keep_original else [])
            )
            or False,
            "attachment_note": self._attachment_note(parsed) or False,
            "auto_kind": kind.auto_kind or False,
            **item.source,
        }
        if not spam:
            # spam joins no thread (it would take the thread's lead) and
            # no contact; Not Spam does both
            vals.update(self._thread_vals(account, parsed, parents))
            vals.update(
                self._link_vals(
                    account,
                    parsed,
                    direction,
                    kind,
                    found=found,
                    made=made,
                    recent=recent,
                    cache=cache,
                    new_senders=new_senders,
                )
            )
        if item.rules:
            vals = self._apply_rules(account, parsed, vals, item.rules)
        lead = self.env["crm.lead"].sudo().browse(vals.get("lead_id") or [])
        if lead.user_id and not vals.get("user_id"):
            # the salesperson of the mail's lead answers for it (and reads
            # it); a personal mailbox's owner stays its responsible
            vals["user_id"] = lead.user_id.id
        return vals

    @api.model
    def _attachment_note(self, parsed):
        reasons = {
            "too_large": self.env._("not saved: over the size limit"),
            "disabled": self.env._(
                "not saved: attachments are switched off for this account"
            ),
        }
        return "\n".join(
            "%s (%s KB): %s"
            % (
                att.filename,
                att.size // 1024,
                reasons.get(att.skipped_reason, att.skipped_reason),
            )
            for att in parsed.attachments
            if att.data is None
        )

    @api.model
    def _thread_parents(self, account, headers):
        """Stored mails of the account these mails answer (In-Reply-To or
        References), in one query.

        :param list headers: parsed mails (or objects with ``in_reply_to``
            and ``references``)
        :return: dict Message-ID -> ``crm.mail.message``
        """
        ids = {i for h in headers for i in [h.in_reply_to, *(h.references or [])] if i}
        if not ids:
            return {}
        # within the account only: another mailbox has other readers, and
        # its thread would show them this one (and hand it its lead)
        candidates = self.search_fetch(
            [("account_id", "=", account.id), ("message_id", "in", sorted(ids))],
            ["message_id", "thread_root_id"],
        )
        return {c.message_id: c for c in candidates}

    @api.model
    def _thread_vals(self, account, parsed, parents=None):
        """Find the parent mail from In-Reply-To, else References (last first).

        :param dict parents: :meth:`_thread_parents` of (at least) this mail
        """
        ids = [i for i in [parsed.in_reply_to, *reversed(parsed.references)] if i]
        if not ids:
            return {}
        if parents is None:
            parents = self._thread_parents(account, [parsed])
        for mid in ids:
            parent = parents.get(mid)
            if parent:
                return {
                    "parent_id": parent.id,
                    "thread_root_id": (parent.thread_root_id or parent).id,
                }
        return {}

    def _adopt_orphans(self):
        """Mails that arrived before these, their parents, join their thread
        (one query for all of them)."""
        by_id = {(m.account_id.id, m.message_id): m for m in self if m.message_id}
        if not by_id:
            return
        orphans = self.search(
            [
                ("in_reply_to", "in", sorted({mid for _a, mid in by_id})),
                ("parent_id", "=", False),
                ("account_id", "in", sorted({a for a, _mid in by_id})),
            ]
        )
        children = defaultdict(lambda: self.browse())
        for orphan in orphans:
            parent = by_id.get((orphan.account_id.id, orphan.in_reply_to))
            if parent and parent != orphan:
                children[parent] |= orphan
        # parents in the order they were stored: one adopted by a later one
        # takes its own children into that thread
        for parent in self.filtered(lambda m: m in children):
            adopted = children[parent]
            root = parent.thread_root_id or parent
            adopted.write({"parent_id": parent.id, "thread_root_id": root.id})
            self.search([("thread_root_id", "in", adopted.ids)]).write(
                {"thread_root_id": root.id}
            )

    @api.model
    def _raw_attachment_vals(self, message, raw):
        return {
            "name": "original.eml",
            "raw": raw,
            "mimetype": "message/rfc822",
            "res_model": self._name,
            "res_id": message.id,
        }

    @api.model
    def _parse_error_message(self, error):
        """A translated sentence for a mail the engine could not parse, with
        the technical detail for whoever investigates."""
        sentences = {
            "empty": self.env._("The server gave an empty message."),
            "not_a_mail": self.env._(
                "The message has no mail headers: it is not an e-mail."
            ),
        }
        sentence = sentences.get(
            error.code, self.env._("The message cannot be parsed.")
        )
        detail = error.detail or error
        return f"{sentence} ({detail})"

    def _quarantine(self, account, raw, source, reason, key=None):
        """Keep a mail that could not be parsed or stored, with its raw bytes.

        :return: (``quarantined``, reason)
        """
        key = key or "sha256:" + hashlib.sha256(raw).hexdigest()
        subject = self.env._("Unreadable mail")
        try:
            parsed = mime.parse(raw[:65536], save_attachments=False)
            subject = parsed.subject or subject
        except Exception:  # noqa: BLE001 - best effort for a label only
            _logger.debug("No subject for quarantined mail %s", key, exc_info=True)
        try:
            with self.env.cr.savepoint():
                message = self.create(
                    {
                        "account_id": account.id,
                        "state": "quarantined",
                        "dedupe_key": key,
                        "subject": subject[:500],
                        "error": reason,
                        "size": len(raw),
                        **source,
                    }
                )
                self.env["ir.attachment"].create(
                    self._raw_attachment_vals(message, raw)
                )
        except psycopg2.IntegrityError as error:
            constraint = getattr(error.diag, "constraint_name", None)
            if constraint == DEDUPE_INDEX:
                # already kept once (the server gave it again after a resync)
                return DUPLICATE, key
            unplaced = {k: v for k, v in source.items() if k not in PLACE_FIELDS}
            if unplaced == source:
                raise
            # its place is taken by another mail: kept, without the place
            return self._quarantine(account, raw, unplaced, reason, key=key)
        return QUARANTINED, reason

    @api.model
    def _refused_stub(self, account, source, error, attempts):
        """Keep in Quarantine a mail the server refused to give, run after
        run: its place and the server's answer (there are no bytes to keep).

        :param dict source: its place on the server
        :param str error: the server's last answer
        :param int attempts: the runs it was refused in
        :return: the new ``crm.mail.message``
        """
        place = "-".join(
            str(source.get(n) or "")
            for n in ("folder_id", "imap_uidvalidity", "imap_uid", "pop3_uidl")
        )
        return self.create(
            {
                "account_id": account.id,
                "state": "quarantined",
                "dedupe_key": f"{REFUSED_KEY}{place}",
                "subject": self.env._("A mail the server refused to give"),
                "error": self.env._(
                    "The server refused to give this mail in %(count)s runs in a "
                    "row; the fetch went on without it. It is still on the "
                    "server. Its last answer: %(answer)s",
                    count=attempts,
                    answer=error or "",
                ),
                **source,
            }
        )

    def unlink(self):
        actions = [
            {"account_id": m.account_id.id, "action": "delete", **m._server_place()}
            for m in self.sudo()
            # only what the server gave: a draft has no place there
            if m.state in SERVER_STATES
            and m.account_id.delete_on_server_with_record
            and not m.server_deleted
            and m._server_place()
        ]
        # a move asked for a mail deleted now would bring its copy back later
        places = [m._server_place() for m in self.sudo()]
        self.env["crm.mail.server.action"]._forget_moves(
            [place for place in places if place.get("folder_id")]
        )
        res = super().unlink()
        # done by the next fetch, once this deletion is committed
        self.env["crm.mail.server.action"]._queue(actions)
        return res

    def _server_place(self):
        """Where this mail is on the server (``crm.mail.server.action``
        values), or an empty dict."""
        self.ensure_one()
        if self.pop3_uidl:
            return {"pop3_uidl": self.pop3_uidl}
        if self.folder_id and self.imap_uid:
            return {
                "folder_id": self.folder_id.id,
                "imap_uidvalidity": self.imap_uidvalidity,
                "imap_uid": self.imap_uid,
            }
        return {}
