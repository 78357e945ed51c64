"""Actions on many selected mails, done by a cron job in batches.

Marking, flagging and linking a selection are a few statements whatever its
size; making leads, contacts or chatter notes is work per mail (a lead, a
partner, a message with its attachments). Up to :data:`MASS_NOW` mails it is
done in the request; beyond, the request only queues a job, and the cron
"Mail: actions on many mails" does it as the user who asked, with his rights
and companies, a committed batch at a time, then tells him.
"""

import logging

from odoo import api, fields, models

from .cron_limits import run_batches

_logger = logging.getLogger(__name__)

#: selected mails an action makes work from inside the request
MASS_NOW = 100
#: mails per committed batch of a job
JOB_BATCH = 50

ACTIONS = [
    ("create_lead", "Create leads"),
    ("create_contact", "Create contacts"),
    ("create_company_contact", "Create companies and contacts"),
    ("log_note", "Log as notes"),
]


class CrmMailMassJob(models.Model):
    _name = "crm.mail.mass.job"
    _description = "Mail Action in the Background"
    _order = "id desc"

    name = fields.Char(required=True, readonly=True)
    user_id = fields.Many2one(
        "res.users", required=True, readonly=True, index=True, ondelete="cascade"
    )
    company_ids = fields.Many2many("res.company", readonly=True)
    action = fields.Selection(ACTIONS, required=True, readonly=True)
    target = fields.Selection(
        [("lead", "Lead"), ("partner", "Contact or Company")], readonly=True
    )
    #: the mail ids still to do, in groups done together (one sender's
    #: mails make one lead); a batch takes whole groups
    pending = fields.Json(readonly=True, copy=False)
    total = fields.Integer(string="Mails", readonly=True)
    done = fields.Integer(string="Mails Done", readonly=True)
    skipped = fields.Integer(
        string="Mails Left As They Were",
        readonly=True,
        help="Mails that no longer needed the action when their turn came "
        "(already linked, no record to note on, deleted).",
    )
    result_count = fields.Integer(string="Records Made", readonly=True)
    state = fields.Selection(
        [("queued", "Queued"), ("done", "Done"), ("failed", "Failed")],
        default="queued",
        required=True,
        readonly=True,
        index=True,
    )
    error = fields.Text(readonly=True)

    @api.model
    def _queue(self, mails, action, groups, target=False):
        """Queue ``action`` on ``mails`` for the cron; the user's answer.

        :param mails: the selected mails (of the current user's env)
        :param str action: a key of :data:`ACTIONS`
        :param list groups: lists of mail ids done together
        :param str target: where notes go (``log_note``)
        :return: an action that tells the user
        """
        label = dict(self._fields["action"]._description_selection(self.env))[action]
        job = self.sudo().create(
            {
                "name": self.env._(
                    "%(action)s (mails: %(count)s)", action=label, count=len(mails)
                ),
                "user_id": self.env.uid,
                "company_ids": [(6, 0, self.env.companies.ids)],
                "action": action,
                "target": target,
                "pending": groups,
                "total": len(mails),
            }
        )
        self.env.ref("crm_mail_client.ir_cron_mass_job").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": self.env._(
                    "%(name)s: done in the background; you will be told when "
                    "it is finished.",
                    name=job.name,
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    @api.autovacuum
    def _gc_finished(self):
        """Finished jobs are kept a month for the record."""
        self.sudo().search(
            [
                ("state", "=", "done"),
                (
                    "write_date",
                    "<",
                    fields.Datetime.subtract(fields.Datetime.now(), days=30),
                ),
            ]
        ).unlink()

    @api.model
    def _cron_run(self):
        """Do the queued jobs, oldest first, a committed batch at a time.

        WARNING: meant for cron usage only - commits after each batch.
        """

        def batch():
            job = self.sudo().search([("state", "=", "queued")], order="id", limit=1)
            if job:
                job._run_batch()
            return bool(job)

        run_batches(self.env, "crm_mail_client.ir_cron_mass_job", batch)

    def _run_batch(self):
        """Do the next groups of this job (at least one), as its user."""
        self.ensure_one()
        pending = list(self.pending or [])
        batch = []
        while pending and (not batch or len(batch) + len(pending[0]) <= JOB_BATCH):
            batch.extend(pending.pop(0))
        env = self.env(
            user=self.user_id.id,
            su=False,
            context=dict(
                self.env.context,
                allowed_company_ids=(self.company_ids & self.user_id.company_ids).ids
                or self.user_id.company_id.ids,
                lang=self.user_id.lang,
                tz=self.user_id.tz,
            ),
        )
        mails = env["crm.mail.message"].browse(batch).exists()
        try:
            with self.env.cr.savepoint():
                made, skipped = mails._mass_job_do(self.action, self.target)
        except Exception as error:  # noqa: BLE001 - any failure ends the job, told
            # the batch is undone and stays pending: a retry starts with it
            self.env.invalidate_all()
            _logger.warning("Mail background action %s failed", self.id, exc_info=True)
            self.write({"state": "failed", "error": str(error)})
            self._tell_user()
            return
        vals = {
            "pending": pending,
            "done": self.done + len(batch),
            "skipped": self.skipped + skipped + len(batch) - len(mails),
            "result_count": self.result_count + made,
        }
        if not pending:
            vals["state"] = "done"
        self.write(vals)
        if not pending:
            self._tell_user()

    def action_retry(self):
        """Go on with a failed job from the batch that failed (its user or a
        mail manager: whoever may read it; nobody writes a job directly)."""
        self.check_access("read")
        self.sudo().filtered(lambda j: j.state == "failed").write(
            {"state": "queued", "error": False}
        )
        self.env.ref("crm_mail_client.ir_cron_mass_job").sudo()._trigger()

    def _tell_user(self):
        """A live notification to the user who asked."""
        self.ensure_one()
        env = self.with_context(lang=self.user_id.lang).env
        if self.state == "failed":
            params = {
                "type": "danger",
                "title": env._("Not finished: %s", self.name),
                "message": env._(
                    "%(done)s of %(total)s mails were done; the rest stopped "
                    "on: %(error)s",
                    done=self.done,
                    total=self.total,
                    error=self.error,
                ),
            }
        else:
            message = env._("Records made: %s.", self.result_count)
            if self.skipped:
                message += " " + env._(
                    "Left as they were (they no longer needed it): %s.",
                    self.skipped,
                )
            params = {"type": "success", "title": env._("Done: %s", self.name)}
            params["message"] = message
        self.user_id.partner_id._bus_send(
            "simple_notification", dict(params, sticky=True)
        )
