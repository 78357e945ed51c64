import logging

from odoo import models

_logger = logging.getLogger(__name__)

# consecutive failed runs after which people are told (the backoff of
# ``_is_due`` starts at 3; by 5 the account has been failing for a while)
ALERT_AFTER_FAILURES = 5


#: errors no retry can cure: the owner must act (sign in again) at once
ALERT_AT_ONCE = ("oauth_revoked", "oauth_not_connected")


class CrmMailAccount(models.Model):
    """Failing account alerts: a to-do activity for the owner and the mail
    administrators once an account fails 5 runs in a row, marked done when
    the account fetches again."""

    _name = "crm.mail.account"
    _inherit = ["crm.mail.account", "mail.thread", "mail.activity.mixin"]

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _finish_run(self, run, error):
        res = super()._finish_run(run, error)
        try:
            # a broken alert must never turn a fetch into a failed one
            with self.env.cr.savepoint():
                self._update_failure_alert()
        except Exception:  # noqa: BLE001
            _logger.exception("Failure alert of account %s not updated.", self.id)
        if self._auto_commit():
            # the alert belongs to the run whose status was just committed
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return res

    def _failure_alert_activities(self):
        """The open alert activities of these accounts."""
        todo = self.env.ref("mail.mail_activity_data_todo", raise_if_not_found=False)
        return self.sudo().activity_ids.filtered(
            lambda act: act.automated and act.activity_type_id == todo
        )

    def _failure_alert_users(self):
        """The owner and the mail administrators (internal, active users)."""
        self.ensure_one()
        managers = self.env.ref("crm_mail_client.group_mail_manager").sudo().users
        users = (self.sudo().user_id | managers).filtered(
            lambda u: u.active and not u.share
        )
        return users

    def _update_failure_alert(self):
        """Open the alert at the 5th failure in a row, close it on success.

        Only one alert per user is ever open: later failed runs add nothing.
        """
        self.ensure_one()
        account = self.sudo()
        open_alerts = account._failure_alert_activities()
        if account.state != "error":
            if open_alerts:
                open_alerts.action_feedback(
                    feedback=self.env._("The account fetches mail again.")
                )
            return
        if (
            account.failure_count < ALERT_AFTER_FAILURES
            and account.last_error_code not in ALERT_AT_ONCE
        ):
            return
        alerted = open_alerts.user_id
        for user in account._failure_alert_users() - alerted:
            env = self.with_context(lang=user.lang).env  # the reader's language
            account.activity_schedule(
                "mail.mail_activity_data_todo",
                user_id=user.id,
                summary=env._("Mail account failing: %s", account.name),
                note=env._(
                    "%(name)s failed %(count)s fetches in a row. Last error: %(error)s",
                    name=account.name,
                    count=account.failure_count,
                    error=account.last_error or "",
                ),
            )
