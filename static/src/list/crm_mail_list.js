/** @odoo-module **/
// A mail list with a reading pane and keyboard triage, as a desktop mail
// client: a click shows the mail beside the list (a second click, or Enter,
// opens it whole); j/k (or the arrows) move, r/a/f answer, e marks reviewed
// and moves on, p postpones, u marks unread, / searches. The pane can be
// switched off (per browser); the keys then act on the highlighted row.
import {
    Component,
    onMounted,
    onPatched,
    onWillUnmount,
    useExternalListener,
    useState,
    useSubEnv,
    xml,
} from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { useHotkey } from "@web/core/hotkeys/hotkey_hook";
import { registry } from "@web/core/registry";
import { useBus, useService } from "@web/core/utils/hooks";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";
import { getDefaultConfig, View } from "@web/views/view";

const PANE_KEY = "crm_mail_client.reading_pane";
const MODEL = "crm.mail.message";
// the columns a list keeps beside the reading pane: who, what, when
const PANE_COLUMNS = ["from_name", "subject", "review_state", "date"];
// states a mail can be answered or reviewed in (as the mail form's buttons)
const ANSWERABLE = ["received", "sent"];

function isEditable(element) {
    return Boolean(
        element &&
            (element.isContentEditable ||
                ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName))
    );
}

/**
 * The mail in the pane: a form of its own, which must not rename the list's
 * breadcrumb or answer for the list's action (a view's config is shared
 * with the views inside it).
 */
export class CrmMailPaneView extends Component {
    static template = xml`<View t-props="props.viewProps"/>`;
    static components = { View };
    static props = { viewProps: Object };

    setup() {
        useSubEnv({ config: getDefaultConfig() });
    }
}

export class CrmMailListController extends ListController {
    static template = "crm_mail_client.ListView";
    static components = { ...ListController.components, CrmMailPaneView };

    setup() {
        super.setup();
        this.orm = useService("orm");
        this.unread = useService("crm_mail_unread");
        this.pane = useState({
            enabled: !this.env.isSmall && browser.localStorage.getItem(PANE_KEY) !== "off",
            resId: false,
        });
        const inTable = () => Boolean(document.activeElement?.closest(".o_list_table"));
        const triage = (hotkey, callback, isAvailable = () => true) =>
            useHotkey(hotkey, callback, {
                isAvailable: () => !this.model.root.isGrouped && isAvailable(),
            });
        const onCurrent = (hotkey, callback) =>
            triage(hotkey, callback, () => Boolean(this.currentRecord));
        triage("j", () => this.move(1));
        triage("k", () => this.move(-1));
        // inside the table, the arrows are the list's own
        triage("arrowdown", () => this.move(1), () => !inTable());
        triage("arrowup", () => this.move(-1), () => !inTable());
        triage("enter", () => this.openWhole(), () => Boolean(this.currentRecord) && !inTable());
        onCurrent("r", () => this.run("action_reply"));
        onCurrent("a", () => this.run("action_reply_all"));
        onCurrent("f", () => this.run("action_forward"));
        onCurrent("e", () => this.markReviewed());
        onCurrent("p", () => this.run("action_postpone", { advance: true }));
        onCurrent("u", () => this.markUnread());
        // "/" is not a key Odoo's hotkeys take
        useExternalListener(window, "keydown", (ev) => {
            // the key, also on a Russian layout (where it types ".")
            const slash = ev.key === "/" || ev.code === "Slash";
            if (slash && !ev.ctrlKey && !ev.altKey && !isEditable(ev.target)) {
                const input = this.rootRef.el?.querySelector(".o_searchview_input");
                if (input) {
                    ev.preventDefault();
                    input.focus();
                }
            }
        });
        // the pane's mail was marked read: its row is no longer bold
        useBus(this.env.bus, "CRM_MAIL:MARKED_READ", ({ detail }) =>
            this.reloadRow(detail.resId)
        );
        onMounted(() => this.highlight());
        onPatched(() => this.highlight());
        // new mail fetched (Check Mail, the cron): the list shows it, unless
        // the user is choosing rows or editing one
        const bus = this.env.services.bus_service;
        const onNewMail = () => {
            const root = this.model.root;
            if (!root.selection?.length && !root.editedRecord) {
                root.load();
            }
        };
        bus.subscribe("crm_mail_client/new_mail", onNewMail);
        onWillUnmount(() => bus.unsubscribe("crm_mail_client/new_mail", onNewMail));
    }

    get className() {
        return `${super.className} o_crm_mail_list`;
    }

    get currentRecord() {
        if (!this.pane.resId || this.model.root.isGrouped) {
            return null;
        }
        return this.model.root.records.find((r) => r.resId === this.pane.resId) || null;
    }

    /** Beside the pane the list keeps the columns a mail client shows. */
    get rendererArchInfo() {
        if (!this.pane.enabled) {
            return this.archInfo;
        }
        if (this._paneArchInfo?.source !== this.archInfo) {
            this._paneArchInfo = {
                source: this.archInfo,
                archInfo: {
                    ...this.archInfo,
                    columns: this.archInfo.columns.filter(
                        (column) => column.type !== "field" || PANE_COLUMNS.includes(column.name)
                    ),
                },
            };
        }
        return this._paneArchInfo.archInfo;
    }

    get paneViewProps() {
        return {
            type: "form",
            resModel: MODEL,
            resId: this.pane.resId,
            context: {
                ...this.props.context,
                form_view_ref: "crm_mail_client.crm_mail_message_view_form_reading",
            },
            display: { controlPanel: false },
            mode: "readonly",
            preventCreate: true,
            preventEdit: true,
        };
    }

    /** The keys, under the pane. */
    get hints() {
        return [
            { keys: ["J", "K"], label: _t("next / previous") },
            { keys: ["Enter"], label: _t("open") },
            { keys: ["R"], label: _t("reply") },
            { keys: ["A"], label: _t("reply all") },
            { keys: ["F"], label: _t("forward") },
            { keys: ["E"], label: _t("reviewed, next") },
            { keys: ["P"], label: _t("postpone") },
            { keys: ["U"], label: _t("unread") },
            { keys: ["/"], label: _t("search") },
        ];
    }

    get paneActions() {
        const data = this.currentRecord?.data || {};
        const answerable = ANSWERABLE.includes(data.state);
        return {
            reply: answerable,
            forward: data.state !== "quarantined",
            reviewed: answerable && data.review_state !== "reviewed",
            postpone: answerable,
            unread: !data.is_unread,
        };
    }

    togglePane() {
        this.pane.enabled = !this.pane.enabled;
        browser.localStorage.setItem(PANE_KEY, this.pane.enabled ? "on" : "off");
    }

    /** A click shows the mail in the pane; a click on the shown one opens it. */
    async openRecord(record, force = false) {
        if (this.pane.enabled && record.resId !== this.pane.resId) {
            this.pane.resId = record.resId;
            return;
        }
        return super.openRecord(record, force);
    }

    openWhole() {
        const record = this.currentRecord;
        return record && super.openRecord(record);
    }

    move(delta) {
        const records = this.model.root.records;
        if (!records.length) {
            return;
        }
        const index = records.findIndex((r) => r.resId === this.pane.resId);
        const next = index < 0 ? records[0] : records[index + delta];
        if (next) {
            this.pane.resId = next.resId;
        }
    }

    highlight() {
        const root = this.rootRef.el;
        if (!root) {
            return;
        }
        const current = this.currentRecord;
        for (const row of root.querySelectorAll(".o_data_row")) {
            const isCurrent = Boolean(current) && row.dataset.id === current.id;
            row.classList.toggle("o_crm_mail_current", isCurrent);
            if (isCurrent && row.dataset.crmMailShown !== String(current.resId)) {
                row.dataset.crmMailShown = current.resId;
                row.scrollIntoView({ block: "nearest" });
            }
        }
    }

    async reloadRow(resId) {
        const record = this.model.root.records?.find((r) => r.resId === resId);
        if (record) {
            await record.load();
        }
        this.unread.refresh();
    }

    /**
     * Run a mail's button method on the current mail; an action it returns
     * (the composer, the postpone dialog) opens, and the list reloads when
     * it closes.
     *
     * @param {string} method
     * @param {{advance?: boolean}} [options] move on to the next mail if
     *      this one left the list
     */
    async run(method, { advance = false } = {}) {
        const resId = this.pane.resId;
        const action = await this.orm.call(MODEL, method, [[resId]], {
            context: this.props.context,
        });
        const after = () => this.reloadAndSelect(resId, { advance });
        if (action && typeof action === "object") {
            await this.actionService.doAction(action, { onClose: after });
        } else {
            await after();
        }
    }

    async markReviewed() {
        const resId = this.pane.resId;
        await this.orm.call(MODEL, "action_mark_reviewed", [[resId]]);
        await this.reloadAndSelect(resId, { advance: true, always: true });
    }

    async markUnread() {
        const resId = this.pane.resId;
        await this.orm.call(MODEL, "action_mark_unread", [[resId]]);
        await this.reloadRow(resId);
    }

    /**
     * Reload the list and keep a mail shown: the same one, or with
     * ``advance`` the one after it if it left the list (``always``: in any
     * case).
     */
    async reloadAndSelect(resId, { advance = false, always = false } = {}) {
        const before = this.model.root.records.map((r) => r.resId);
        const index = before.indexOf(resId);
        const nextId = index >= 0 ? before[index + 1] : undefined;
        await this.model.root.load();
        const after = this.model.root.records.map((r) => r.resId);
        const stays = after.includes(resId);
        let target = resId;
        if (advance && (always || !stays)) {
            if (after.includes(nextId)) {
                target = nextId;
            } else {
                const from = stays ? after.indexOf(resId) + 1 : Math.max(index, 0);
                target = after[Math.min(from, after.length - 1)];
            }
        } else if (!stays) {
            target = after[Math.min(Math.max(index, 0), after.length - 1)];
        }
        this.pane.resId = target || false;
        this.unread.refresh();
    }
}

registry.category("views").add("crm_mail_list", {
    ...listView,
    Controller: CrmMailListController,
});
