/** @odoo-module **/
// Attachments of a mail: a click on one previews it in Odoo's file viewer
// (images, PDF, text, video); what cannot be previewed is downloaded. The
// server sends every file with "Content-Security-Policy: default-src 'none'";
// still, an HTML or XML attachment (a phishing page, say) is only
// downloaded, never rendered inside Odoo.
import { registry } from "@web/core/registry";
import { humanSize } from "@web/core/utils/binary";
import { FileModel } from "@web/core/file_viewer/file_model";
import { useFileViewer } from "@web/core/file_viewer/file_viewer_hook";
import {
    Many2ManyBinaryField,
    many2ManyBinaryField,
} from "@web/views/fields/many2many_binary/many2many_binary_field";

export class CrmMailAttachmentsField extends Many2ManyBinaryField {
    static template = "crm_mail_client.CrmMailAttachmentsField";

    setup() {
        super.setup();
        this.fileViewer = useFileViewer();
    }

    get viewerFiles() {
        return this.files.map((file) =>
            Object.assign(new FileModel(), {
                id: file.id,
                name: file.name,
                mimetype: file.mimetype,
                type: "binary",
            })
        );
    }

    /** The file's size, as a mail client shows it under the name. */
    sizeOf(file) {
        return file.file_size ? humanSize(file.file_size) : "";
    }

    isViewable(file) {
        const mimetype = file.mimetype || "";
        if (/html|xml/.test(mimetype) && mimetype !== "image/svg+xml") {
            return false; // an SVG is shown as an image: no script runs
        }
        return this.viewerFiles.find((f) => f.id === file.id).isViewable;
    }

    onPreview(file) {
        // the viewer's arrows go through the previewable files only
        const files = this.viewerFiles.filter((f) => this.isViewable(f));
        this.fileViewer.open(
            files.find((f) => f.id === file.id),
            files
        );
    }
}

registry.category("fields").add("crm_mail_attachments", {
    ...many2ManyBinaryField,
    component: CrmMailAttachmentsField,
    supportedTypes: ["one2many", "many2many"],
    relatedFields: [...many2ManyBinaryField.relatedFields, { name: "file_size", type: "integer" }],
});
