/** @odoo-module **/
// One recipient field for the composer, as a mail client has: every address
// of "To" is a chip (a contact's name, or the address typed); typing offers
// contacts by name or address and takes any address as it is; removing a
// chip removes the address (and the contact it came from). Text that is no
// address stays as a red chip: sending refuses it with the reason.
import { Component, useRef } from "@odoo/owl";
import { AutoComplete } from "@web/core/autocomplete/autocomplete";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

const ADDRESS = /^[^\s@<>\x22,;]+@[^\s@<>\x22,;]+\.[^\s@<>\x22,;]+$/;

/**
 * The entries of an address list, each with its name and address.
 *
 * @param {string} text "Anna <a@x.ru>, b@y.ru"
 * @returns {{raw: string, name: string, email: string, valid: boolean}[]}
 */
export function parseRecipients(text) {
    const parts = (text || "").match(/(\x22[^\x22]*\x22|<[^>]*>|[^,;])+/g) || [];
    return parts
        .map((part) => part.trim())
        .filter(Boolean)
        .map((raw) => {
            // a quoted name may hold anything, "<" and "," too
            const match = raw.match(/^(?:\x22((?:[^\x22\\]|\\.)*)\x22|([^<\x22]*?))\s*<([^<>]*)>$/);
            const email = (match ? match[3] : raw).trim();
            return {
                raw,
                name: match ? (match[1] ?? match[2]).trim() : "",
                email,
                valid: ADDRESS.test(email),
            };
        });
}

function quoteName(name) {
    return /[,;\x22<>@]/.test(name) ? '"' + name.replace(/\x22/g, "") + '"' : name;
}

export class CrmMailRecipientsField extends Component {
    static template = "crm_mail_client.RecipientsField";
    static components = { AutoComplete };
    static props = { ...standardFieldProps, placeholder: { type: String, optional: true } };

    setup() {
        this.orm = useService("orm");
        this.boxRef = useRef("box");
    }

    get chips() {
        return parseRecipients(this.props.record.data[this.props.name]);
    }

    chipTitle(chip) {
        return chip.valid ? chip.raw : _t("%s is not an address", chip.raw);
    }

    get sources() {
        return [{ options: (request) => this.search(request) }];
    }

    async search(request) {
        const term = request.trim();
        if (!term) {
            return [];
        }
        const partners = await this.orm.searchRead(
            "res.partner",
            ["&", ["email", "!=", false], "|", ["name", "ilike", term], ["email", "ilike", term]],
            ["name", "email"],
            { limit: 8 }
        );
        const options = partners.map((partner) => ({
            label: `${partner.name} <${partner.email}>`,
            partner,
        }));
        const typed = parseRecipients(term);
        if (typed.length && typed.every((entry) => entry.valid)) {
            options.unshift({ label: _t("Add %s", term), typed: term });
        }
        return options;
    }

    async onSelect(option, { input }) {
        if (option.partner) {
            const { name, email, id } = option.partner;
            await this.add(`${quoteName(name)} <${email}>`, id);
        } else {
            await this.add(option.typed);
        }
        input.value = "";
    }

    /** Text left in the box (Enter, a comma, leaving it) becomes chips. */
    async onChange({ inputValue }) {
        await this.takeTyped(inputValue);
    }

    /** Before the list's own keys: Enter on a highlighted contact is the
     * list's; on bare text, a comma or a semicolon, the text is taken. */
    async onKeydown(ev) {
        const input = ev.target;
        const highlighted = this.boxRef.el?.querySelector(".ui-state-active");
        const commit =
            [",", ";"].includes(ev.key) || (ev.key === "Enter" && !highlighted);
        if (commit && input.tagName === "INPUT" && input.value.trim()) {
            ev.preventDefault();
            ev.stopPropagation();
            await this.takeTyped(input.value);
        }
    }

    async takeTyped(text) {
        if (!text.trim()) {
            return;
        }
        await this.add(text);
        const input = this.boxRef.el?.querySelector("input");
        if (input) {
            input.value = "";
        }
    }

    async add(text, partnerId = false) {
        const present = new Set(this.chips.map((chip) => chip.email.toLowerCase()));
        const added = parseRecipients(text).filter(
            (entry) => !present.has(entry.email.toLowerCase())
        );
        if (added.length) {
            const entries = [...this.chips, ...added].map((entry) => entry.raw);
            await this.props.record.update({ [this.props.name]: entries.join(", ") });
        }
        const partners = this.props.record.data.partner_ids;
        if (partnerId && partners && !partners.currentIds.includes(partnerId)) {
            await partners.linkTo(partnerId);
        }
    }

    async remove(chip) {
        const entries = this.chips.filter((entry) => entry.raw !== chip.raw);
        await this.props.record.update({
            [this.props.name]: entries.map((entry) => entry.raw).join(", "),
        });
        // the contact it came from leaves the mail with it
        const partners = this.props.record.data.partner_ids;
        const email = chip.email.toLowerCase();
        for (const record of partners?.records || []) {
            if ((record.data.email || "").toLowerCase() === email) {
                await partners.unlinkFrom(record.resId);
            }
        }
    }
}

registry.category("fields").add("crm_mail_recipients", {
    component: CrmMailRecipientsField,
    supportedTypes: ["char", "text"],
    extractProps: ({ placeholder }) => ({ placeholder }),
});
