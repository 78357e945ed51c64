/** @odoo-module **/
// Attachments of a mail: a click on one previews it in Odoo's file viewer
// (images, PDF, text, video); what cannot be previewed is downloaded. The
// server sends every file with "Content-Security-Policy: default-src 'none'",
// so a hostile HTML or SVG attachment runs nothing in the preview either.
import { registry } from "@web/core/registry";
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

    isViewable(file) {
        return this.viewerFiles.find((f) => f.id === file.id).isViewable;
    }

    onPreview(file) {
        const files = this.viewerFiles;
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
});
