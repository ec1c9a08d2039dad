// Modal dialogs (focus kept inside, Escape closes, focus returns), toasts, the image viewer.

import { h } from "../dom.js";
import { icon } from "../icons.js";
import { t } from "../i18n.js";

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex='0']";

/** Open a dialog; returns {el, body, close}. `build(body, close)` fills it. */
export function openDialog({ title, build, wide = false, onClose = null, cls = "" }) {
  const previous = document.activeElement;
  const titleId = `dlg-${Math.random().toString(36).slice(2, 8)}`;
  const body = h("div.dialog-body");
  const closeButton = h("button.icon-btn", { type: "button", "aria-label": t("close"), onclick: () => close() }, icon("close"));
  const dialog = h(
    `div.dialog${wide ? ".wide" : ""}${cls ? "." + cls : ""}`,
    { role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
    h("header.dialog-head", null, h("h2", { id: titleId }, title), closeButton),
    body,
  );
  const backdrop = h("div.backdrop", {
    onmousedown: (event) => {
      if (event.target === backdrop) close();
    },
  }, dialog);
  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    backdrop.remove();
    document.removeEventListener("keydown", onKey, true);
    if (onClose) onClose();
    if (previous && previous.focus) previous.focus();
  }
  function onKey(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      const items = Array.from(dialog.querySelectorAll(FOCUSABLE)).filter((el) => el.offsetParent !== null);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        last.focus();
        event.preventDefault();
      } else if (!event.shiftKey && document.activeElement === last) {
        first.focus();
        event.preventDefault();
      }
    }
  }
  document.addEventListener("keydown", onKey, true);
  document.body.append(backdrop);
  build(body, close);
  const target = body.querySelector("[autofocus]") || body.querySelector(FOCUSABLE) || closeButton;
  target.focus();
  return { el: dialog, body, close };
}

export function confirmDialog(message, { ok = t("save"), danger = false } = {}) {
  return new Promise((resolve) => {
    let answered = false;
    openDialog({
      title: message,
      cls: "small",
      onClose: () => {
        if (!answered) resolve(false);
      },
      build(body, close) {
        body.append(
          h(
            "div.dialog-actions",
            null,
            h("button.btn", { type: "button", onclick: () => close() }, t("cancel")),
            h(
              `button.btn${danger ? ".danger" : ".primary"}`,
              {
                type: "button",
                autofocus: true,
                onclick: () => {
                  answered = true;
                  resolve(true);
                  close();
                },
              },
              ok,
            ),
          ),
        );
      },
    });
  });
}

let toastHost = null;

export function toast(text, kind = "info") {
  if (!toastHost) {
    toastHost = h("div.toasts", { role: "status", "aria-live": "polite" });
    document.body.append(toastHost);
  }
  const el = h(`div.toast.${kind}`, null, text);
  toastHost.append(el);
  setTimeout(() => el.classList.add("leaving"), 3_500);
  setTimeout(() => el.remove(), 4_000);
}

/** Full-size image over everything; click or Escape closes. */
export function openViewer(url, name) {
  openDialog({
    title: name || t("image_viewer"),
    cls: "viewer",
    build(body, close) {
      body.append(
        h("img.viewer-img", { src: url, alt: name || t("image_viewer"), onclick: () => close() }),
        h("a.btn.viewer-download", { href: url, download: name || "", target: "_blank", rel: "noopener" }, icon("download", { size: 18 }), t("download")),
      );
    },
  });
}
