// Web Push in the browser: the service worker, the push subscription the server sends
// to (POST/DELETE /api/v1/push/subscriptions), and the server-side notification
// preferences (GET/PATCH /api/v1/users/me/notifications).

const KEY = "pigeon.push"; // id of this browser's subscription on the server

export function pushSupported(config) {
  return Boolean(
    config.push && config.push.vapid_public_key &&
    "serviceWorker" in navigator && "PushManager" in window && window.isSecureContext,
  );
}

/** Register the service worker (at every start, so a new version replaces the old). */
export async function registerWorker(config) {
  if (!pushSupported(config)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    return null; // e.g. blocked by the browser's settings: push stays off
  }
}

export function pushSubscribed() {
  return Boolean(localStorage.getItem(KEY));
}

function serverKey(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Ask permission, subscribe with the server's VAPID key and register the subscription. */
export async function subscribePush(api, config) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("denied");
  const registration = (await registerWorker(config)) || (await navigator.serviceWorker.ready);
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: serverKey(config.push.vapid_public_key),
  });
  const stored = await api.post("/push/subscriptions", subscription.toJSON());
  localStorage.setItem(KEY, stored.id);
}

/** Forget this browser's subscription, here and on the server. */
export async function unsubscribePush(api) {
  const id = localStorage.getItem(KEY);
  localStorage.removeItem(KEY);
  if (id) await api.delete(`/push/subscriptions/${encodeURIComponent(id)}`).catch(() => {});
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration ? await registration.pushManager.getSubscription() : null;
  if (subscription) await subscription.unsubscribe();
}

export function getPreferences(api) {
  return api.get("/users/me/notifications");
}

export function savePreferences(api, changes) {
  return api.patch("/users/me/notifications", changes);
}

export function localTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}
