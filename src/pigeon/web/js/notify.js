// Unread count in the tab title and opt-in desktop notifications while the tab is hidden.

import { t } from "./i18n.js";

const KEY = "pigeon.notify";

export function notificationsEnabled() {
  return localStorage.getItem(KEY) === "1" && "Notification" in window && Notification.permission === "granted";
}

/** Turn notifications on (asking the browser first) or off; returns whether they are on. */
export async function setNotifications(on) {
  if (!on) {
    localStorage.setItem(KEY, "0");
    return false;
  }
  if (!("Notification" in window)) return false;
  let permission = Notification.permission;
  if (permission === "default") permission = await Notification.requestPermission();
  localStorage.setItem(KEY, permission === "granted" ? "1" : "0");
  return permission === "granted";
}

export function updateTitle(unread) {
  const base = t("app_name");
  document.title = unread > 0 ? `(${unread > 99 ? "99+" : unread}) ${base}` : base;
}

export function notify({ title, body, tag, onClick }) {
  if (!notificationsEnabled() || document.visibilityState === "visible") return;
  try {
    const note = new Notification(title, { body, tag, icon: "/static/icon.svg" });
    note.onclick = () => {
      window.focus();
      onClick();
      note.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; then we stay quiet.
  }
}
