// The look at an image before it goes out: the picture, a caption, Send and Cancel.

import { h, textLength } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { openDialog } from "./dialogs.js";

/**
 * Show `file` (an image) and ask for a caption. Resolves {caption} on Send, null on Cancel,
 * Escape or a click beside the dialog.
 * @param {File} file @param {number} maxChars  the server's limit for the caption
 */
export function imagePreview(file, maxChars) {
  const url = URL.createObjectURL(file);
  return new Promise((resolve) => {
    let answer = null;
    openDialog({
      title: () => t("send_image"),
      cls: "image-preview",
      onClose: () => {
        URL.revokeObjectURL(url);
        resolve(answer);
      },
      build(body, close) {
        const caption = h("input", {
          id: "image-caption",
          type: "text",
          placeholder: t("caption"),
          "aria-label": t("caption"),
          autocomplete: "off",
        });
        const problem = h("div.form-error", { role: "alert", hidden: true });
        // Like the message text: a caption over the server's limit is explained, not cut.
        caption.addEventListener("input", () => {
          problem.hidden = true;
        });
        const send = () => {
          const n = textLength(caption.value.trim());
          if (n > maxChars) {
            problem.textContent = t("text_too_long", { n, max: maxChars });
            problem.hidden = false;
            return;
          }
          answer = { caption: caption.value.trim() };
          close();
        };
        caption.addEventListener("keydown", (event) => {
          if (event.key === "Enter" && !event.isComposing) {
            event.preventDefault();
            send();
          }
        });
        body.append(
          h("div.preview-frame", null, h("img.preview-img", { src: url, alt: file.name || t("image") })),
          h("p.preview-name.muted-text", null, file.name || ""),
          caption,
          problem,
          h("div.dialog-actions", null,
            h("button.btn", { type: "button", onclick: () => close() }, t("cancel")),
            h("button.btn.primary", { type: "button", onclick: send }, icon("send", { size: 18 }), t("send"))),
        );
        caption.setAttribute("autofocus", "");
      },
    });
  });
}
