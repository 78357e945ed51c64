/** @odoo-module **/
// The columns of a mail list that read like a mail client's: who (the
// sender, or "To" the recipients of a mail sent), when (the time today, the
// weekday this week, the date before), and what (the subject, the start of
// the text, an "answered" mark).
import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { formatDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { parseRecipients } from "@crm_mail_client/compose/crm_mail_recipients";

const { DateTime } = luxon;

/**
 * The names of an address list ("Anna <a@x>, b@y" → "Anna, b@y").
 *
 * @param {string} addresses
 * @returns {string}
 */
export function addressNames(addresses) {
    return parseRecipients(addresses)
        .map((entry) => entry.name || entry.email)
        .join(", ");
}

/**
 * A mail's date as a mail client shows it in a list.
 *
 * @param {DateTime} date local time
 * @param {DateTime} [now]
 * @returns {string}
 */
export function compactDate(date, now = DateTime.local()) {
    if (!date) {
        return "";
    }
    if (date.hasSame(now, "day")) {
        return date.toLocaleString(DateTime.TIME_SIMPLE);
    }
    if (date < now && now.diff(date, "days").days < 6) {
        return date.toFormat("ccc") + " " + date.toLocaleString(DateTime.TIME_SIMPLE);
    }
    if (date.hasSame(now, "year")) {
        return date.toLocaleString({ day: "numeric", month: "short" });
    }
    return date.toLocaleString(DateTime.DATE_SHORT);
}

export class CrmMailCorrespondentField extends Component {
    static template = "crm_mail_client.CorrespondentField";
    static props = { ...standardFieldProps };

    get isOutgoing() {
        return this.props.record.data.direction === "outgoing";
    }
    get label() {
        const data = this.props.record.data;
        if (this.isOutgoing) {
            return addressNames(data.email_to);
        }
        return data.from_name || data.email_from;
    }
    get title() {
        const data = this.props.record.data;
        return this.isOutgoing ? data.email_to : data.email_from;
    }
}

export class CrmMailDateField extends Component {
    static template = "crm_mail_client.DateField";
    static props = { ...standardFieldProps };

    get label() {
        return compactDate(this.props.record.data[this.props.name]);
    }
    get title() {
        const date = this.props.record.data[this.props.name];
        return date ? formatDateTime(date) : "";
    }
}

export class CrmMailSubjectField extends Component {
    static template = "crm_mail_client.SubjectField";
    static props = { ...standardFieldProps };

    get answeredTitle() {
        const data = this.props.record.data;
        if (!data.answered_by_id) {
            return "";
        }
        return _t("Answered by %(who)s, %(when)s", {
            who: data.answered_by_id[1],
            when: data.answered_date ? compactDate(data.answered_date) : "",
        });
    }
}

const dependencies = (names) => names.map(([name, type]) => ({ name, type }));

registry.category("fields").add("crm_mail_correspondent", {
    component: CrmMailCorrespondentField,
    supportedTypes: ["char"],
    fieldDependencies: dependencies([
        ["direction", "selection"],
        ["email_from", "char"],
        ["email_to", "text"],
    ]),
});
registry.category("fields").add("crm_mail_date", {
    component: CrmMailDateField,
    supportedTypes: ["datetime"],
});
registry.category("fields").add("crm_mail_subject", {
    component: CrmMailSubjectField,
    supportedTypes: ["char"],
    fieldDependencies: dependencies([
        ["snippet", "char"],
        ["has_attachments", "boolean"],
        ["answered_by_id", "many2one"],
        ["answered_date", "datetime"],
    ]),
});
