from datetime import timedelta
from types import SimpleNamespace

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..mail_engine.addresses import normalize as normalize_address
from .crm_mail_account_server_sync import JUNK

#: key of the fetch run's cache: the addresses said to be no robot
CACHE_NOT_ROBOTS = "not_robots"
#: key of the fetch run's cache: ids of the folders whose mail is spam
CACHE_JUNK_FOLDERS = "junk_folders"


class CrmMailNotRobot(models.Model):
    """A sender users said is a person: the classifier's robot and spam
    marks no longer count for his mail to that account (contacts and leads
    are made from it as from anybody's). Administrators may list a sender
    for every account."""

    _name = "crm.mail.not.robot"
    _description = "Sender Who Is Not a Robot"
    _order = "address"
    _rec_name = "address"

    address = fields.Char(required=True, index=True)
    account_id = fields.Many2one(
        "crm.mail.account", ondelete="cascade", help="Empty: every account."
    )
    note = fields.Char(help="What the classifier had taken him for.")
    user_id = fields.Many2one(
        "res.users",
        string="Said By",
        default=lambda self: self.env.user,
        readonly=True,
        ondelete="set null",
    )

    _sql_constraints = [
        (
            "address_account_uniq",
            "UNIQUE NULLS NOT DISTINCT (address, account_id)",
            "This sender is already listed.",
        )
    ]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            address = vals.get("address") or ""
            vals["address"] = normalize_address(address) or address.strip().lower()
        return super().create(vals_list)

    @api.model
    def _addresses(self, account):
        """The addresses listed for an account (lower case): one query per
        fetch run."""
        self.env.cr.execute(
            SQL(
                "SELECT address FROM crm_mail_not_robot"
                " WHERE account_id IS NULL OR account_id = %s",
                account.id,
            )
        )
        return {address for (address,) in self.env.cr.fetchall()}

    @api.model
    def _say(self, address, note, account):
        """List an address for an account (as the superuser: a user who may
        edit the mail corrects the classifier for that mailbox); once."""
        address = normalize_address(address or "")
        if not address:
            return
        self.env.cr.execute(
            SQL(
                "INSERT INTO crm_mail_not_robot (address, account_id, note, user_id,"
                " create_uid, write_uid, create_date, write_date)"
                " VALUES (%s, %s, %s, %s, %s, %s,"
                " now() at time zone 'UTC', now() at time zone 'UTC')"
                " ON CONFLICT DO NOTHING",
                address,
                account.id,
                note or None,
                self.env.uid,
                self.env.uid,
                self.env.uid,
            )
        )


class CrmMailMessage(models.Model):
    """Spam: the server's spam folder fetched into a Spam view, *Mark as
    Spam* (moved into the server's spam folder), *Not Spam* (moved back to
    the Inbox) and *Not a Robot* (a correction of the classifier)."""

    _inherit = "crm.mail.message"

    # ------------------------------------------------------------
    # INGEST
    # ------------------------------------------------------------

    @api.model
    def _is_junk_source(self, account, source, cache):
        """Whether mail fetched from ``source`` came from a spam folder."""
        if CACHE_JUNK_FOLDERS not in cache:
            cache[CACHE_JUNK_FOLDERS] = set(
                account.folder_ids.filtered(lambda f: f.special_use == JUNK).ids
            )
        return source.get("folder_id") in cache[CACHE_JUNK_FOLDERS]

    @api.model
    def _not_robot(self, account, address, cache):
        """Whether users said this sender is a person (for this account)."""
        if CACHE_NOT_ROBOTS not in cache:
            cache[CACHE_NOT_ROBOTS] = self.env["crm.mail.not.robot"]._addresses(account)
        return normalize_address(address or "") in cache[CACHE_NOT_ROBOTS]

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def _writable_or_raise(self):
        """These mails, each of which the user may edit (else AccessError)."""
        allowed = self._filtered_access("write")
        if allowed != self:
            raise AccessError(
                self.env._(
                    "You may not change %(count)s of these mails.",
                    count=len(self - allowed),
                )
            )
        return self

    def action_mark_spam(self):
        """The *Mark as Spam* dialog: the mail goes into the Spam view and
        into the server's spam folder; an administrator may also blacklist
        the sender."""
        mails = self._writable_or_raise().filtered(
            lambda m: m.direction == "incoming" and m.state == "received"
        )
        if not mails:
            raise UserError(self.env._("Only received mail can be marked as spam."))
        wizard = self.env["crm.mail.spam.wizard"].create(
            {"message_ids": [fields.Command.set(mails.ids)]}
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": wizard._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Mark as Spam"),
        }

    def _mark_spam(self, move=True):
        """Put these mails into the Spam view; with ``move``, queue their
        move into the account's spam folder on the server.

        :return: the number of mails whose server copy will move
        """
        mails = self._writable_or_raise().filtered(
            lambda m: m.direction == "incoming" and m.state == "received"
        )
        mails.sudo().write({"state": "spam"})
        return mails._queue_move(lambda account: account._junk_folder()) if move else 0

    def action_not_spam(self):
        """Back to the Inbox, here and on the server. Nothing is learnt
        from it but what the user says: the sender is not blacklisted, his
        mail is not a robot's from now on only if *Not a Robot* is used."""
        mails = self._writable_or_raise().filtered(lambda m: m.state == "spam")
        if not mails:
            raise UserError(self.env._("None of these mails is in Spam."))
        mails.sudo().write({"state": "received"})
        moving = mails._queue_move(lambda account: account._inbox_folder())
        # a mail fetched from the spam folder joined no thread, no contact
        mails._rethread()
        mails._relink()
        message = self.env._("Back in the Inbox: %(count)s.", count=len(mails))
        if moving:
            message += " " + self.env._(
                "On the server: %(count)s moved back to the Inbox.", count=moving
            )
        return self._done_notification(message)

    def action_not_robot(self):
        """The classifier took the sender for a robot (an auto-reply, a
        mailing, a no-reply address) or his mail for spam: his mail is a
        person's from now on, here and in every later fetch."""
        mails = self._writable_or_raise().filtered(
            lambda m: m.direction == "incoming" and m.email_from
        )
        if not mails:
            raise UserError(self.env._("Only received mail has a sender to correct."))
        kinds = dict(self._fields["auto_kind"]._description_selection(self.env))
        said = {(mail.email_from, mail.account_id): mail for mail in mails}
        for (sender, account), mail in said.items():
            self.env["crm.mail.not.robot"]._say(
                sender, kinds.get(mail.auto_kind) or mail.auto_kind, account
            )
        senders = set(mails.mapped("email_from"))
        # his other mail of these mailboxes that the user may edit
        robots = self.search(
            [
                ("email_from", "in", list(senders)),
                ("auto_kind", "!=", False),
                ("account_id", "in", mails.account_id.ids),
            ]
        )._filtered_access("write")
        robots.sudo().write({"auto_kind": False})
        return self._done_notification(
            self.env._(
                "Not a robot: %(senders)s. Their mail counts as a person's.",
                senders=", ".join(sorted(senders)),
            )
        )

    def _rethread(self):
        """Join the thread these unthreaded mails answer (and its lead)."""
        for mail in self.sudo().filtered(lambda m: not m.parent_id):
            headers = SimpleNamespace(
                in_reply_to=mail.in_reply_to,
                references=(mail.references or "").split(),
            )
            vals = self._thread_vals(mail.account_id, headers)
            if not vals:
                continue
            if not mail.lead_id:
                lead = self._thread_lead(vals["parent_id"], vals["thread_root_id"])
                if lead:
                    vals["lead_id"] = lead.id
            mail.write(vals)

    def _queue_move(self, target_of):
        """Queue the move of these mails' server copies (IMAP).

        :param target_of: function of the account giving the target folder
            (a ``crm.mail.folder``, maybe empty)
        :return: the number of moves queued
        """
        Action = self.env["crm.mail.server.action"].sudo()
        rows, places = [], []
        for mail in self.sudo():
            place = mail._server_place()
            if not place.get("folder_id") or mail.server_deleted:
                continue
            places.append(place)
            target = target_of(mail.account_id)
            if target and target != mail.folder_id:
                rows.append(
                    {
                        "account_id": mail.account_id.id,
                        "action": "move",
                        "target_folder_id": target.id,
                        **place,
                    }
                )
        # the last wish wins: a move asked before and not done yet goes
        Action._forget_moves(places)
        Action._queue(rows)
        if rows:
            self.env.ref("crm_mail_client.ir_cron_push_flags").sudo()._trigger(
                fields.Datetime.now() + timedelta(seconds=2)
            )
        return len(rows)
