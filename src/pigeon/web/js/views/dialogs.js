// Modal dialogs (focus kept inside, Escape closes, focus returns, rebuilt in the new
// language when it changes), toasts, the image viewer.

import { h } from "../dom.js";
import { icon } from "../icons.js";
import { t, onLangChange } from "../i18n.js";

// Every dialog still open, so signing out can close them all (and end their language listeners).
const openDialogs = new Set();

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex='0']";

/** A text now: `value` itself, or what it returns when it is a function (re-read per language). */
export function text(value) {
  return typeof value === "function" ? value() : value;
}

/**
 * Open a dialog; returns {el, body, close}. `build(body, close)` fills it, and fills it again
 * after a language change (`title` may be a function for the same reason); what was typed
 * into fields with an id survives the rebuild.
 */
export function openDialog({ title, build, wide = false, onClose = null, cls = "" }) {
  const previous = document.activeElement;
  const titleId = `dlg-${Math.random().toString(36).slice(2, 8)}`;
  const body = h("div.dialog-body");
  const heading = h("h2", { id: titleId }, text(title));
  const closeButton = h("button.icon-btn", { type: "button", "aria-label": t("close"), onclick: () => close() }, icon("close"));
  const dialog = h(
    `div.dialog${wide ? ".wide" : ""}${cls ? "." + cls : ""}`,
    { role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
    h("header.dialog-head", null, heading, closeButton),
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
    openDialogs.delete(close);
    offLang();
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
  const offLang = onLangChange(() => {
    const focusedId = document.activeElement && dialog.contains(document.activeElement) ? document.activeElement.id : "";
    const kept = fieldValues(body);
    heading.textContent = text(title);
    closeButton.setAttribute("aria-label", t("close"));
    body.replaceChildren();
    build(body, close);
    restoreFields(body, kept);
    const again = focusedId && body.querySelector(`#${CSS.escape(focusedId)}`);
    if (again) again.focus();
  });
  document.addEventListener("keydown", onKey, true);
  document.body.append(backdrop);
  openDialogs.add(close);
  build(body, close);
  const target = body.querySelector("[autofocus]") || body.querySelector(FOCUSABLE) || closeButton;
  target.focus();
  return { el: dialog, body, close };
}

/** Close every open dialog (signing out). */
export function closeAllDialogs() {
  for (const close of Array.from(openDialogs)) close();
}

function fieldValues(root) {
  const out = new Map();
  for (const el of root.querySelectorAll("input[id], textarea[id], select[id]")) {
    if (el.type !== "file") out.set(el.id, el.type === "checkbox" ? el.checked : el.value);
  }
  return out;
}

function restoreFields(root, values) {
  for (const [id, value] of values) {
    const el = root.querySelector(`#${CSS.escape(id)}`);
    // The language menu shows the new language, not the one it had before the rebuild.
    if (!el || (el.tagName === "SELECT" && el.classList.contains("lang-select"))) continue;
    if (el.type === "checkbox") el.checked = value;
    else el.value = value;
  }
}

/**
 * Ask before something that cannot be undone; resolves true only for the confirm button.
 * `message`, `ok` and `detail` are texts or functions returning them (so they follow the language).
 */
export function confirmDialog(message, { ok = () => t("save"), danger = false, detail = null } = {}) {
  return new Promise((resolve) => {
    let answered = false;
    openDialog({
      title: message,
      cls: "small.confirm",
      onClose: () => {
        if (!answered) resolve(false);
      },
      build(body, close) {
        if (detail) body.append(h("p.confirm-detail", null, text(detail)));
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
              text(ok),
            ),
          ),
        );
      },
    });
  });
}

let toastHost = null;

/** A short note at the bottom; `action` ({label, onclick}) adds a button to it. */
export function toast(message, kind = "info", action = null) {
  if (!toastHost || !toastHost.isConnected) {
    toastHost = h("div.toasts", { role: "status", "aria-live": "polite" });
    document.body.append(toastHost);
  }
  const el = h(`div.toast.${kind}`, null, h("span", null, message),
    action ? h("button.link.toast-action", { type: "button", onclick: () => { el.remove(); action.onclick(); } }, action.label) : null);
  toastHost.append(el);
  const stay = action ? 8_000 : 4_000; // time to reach the button
  setTimeout(() => el.classList.add("leaving"), stay - 500);
  setTimeout(() => el.remove(), stay);
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
