// Service worker: shows Web Push notifications (docs/push.md) while no Pigeon tab is
// visible, and opens the conversation when one is clicked. Served at /sw.js so its
// scope is the whole client.

const TEXT = {
  en: { one: "New message", many: (n) => `${n} new messages`, mention: "mentioned you" },
  zh: { one: "新消息", many: (n) => `${n} 条新消息`, mention: "提到了你" },
};

function strings() {
  const lang = (self.navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  return TEXT[lang];
}

/** The title and options of the notification for one push payload. */
function notificationFor(data) {
  const text = strings();
  const group = data.conv.kind !== "direct";
  const title = data.title || data.sender.name;
  let body = data.preview == null ? (data.count > 1 ? text.many(data.count) : text.one) : data.preview;
  if (group && data.preview != null) body = `${data.sender.name}: ${body}`;
  if (data.mention && data.preview == null) body = `${data.sender.name} ${text.mention}`;
  if (data.count > 1 && data.preview != null) body += ` (${text.many(data.count)})`;
  return {
    title,
    options: {
      body,
      tag: data.conv.id, // one notification per conversation: a newer one replaces it
      renotify: true,
      icon: "/static/icon.svg",
      timestamp: data.ts,
      data: { url: data.url || `/#/c/${encodeURIComponent(data.conv.id)}`, id: data.id },
    },
  };
}

async function onPush(event) {
  let data;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  if (!data || !data.conv) return;
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  // A visible tab has a live connection and shows the message itself.
  if (tabs.some((tab) => tab.visibilityState === "visible")) return;
  const { title, options } = notificationFor(data);
  await self.registration.showNotification(title, options);
}

async function onClick(event) {
  event.notification.close();
  const url = new URL(event.notification.data.url, self.location.origin).href;
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const tab of tabs) {
    if (new URL(tab.url).origin === self.location.origin) {
      await tab.focus();
      return tab.navigate(url);
    }
  }
  return self.clients.openWindow(url);
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("push", (event) => event.waitUntil(onPush(event)));
self.addEventListener("notificationclick", (event) => event.waitUntil(onClick(event)));
