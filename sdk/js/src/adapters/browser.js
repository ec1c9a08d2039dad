// Browser adapter: WebSocket, fetch, XMLHttpRequest (for upload progress), localStorage,
// online/offline and visibility events, Web Locks across tabs, Blob slices for tus.

/** @param {Headers} headers */
function headerRecord(headers) {
  /** @type {Record<string, string>} */
  const out = {};
  headers.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

/** @param {string} raw  XHR's getAllResponseHeaders() */
function parseRawHeaders(raw) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const line of raw.trim().split(/[\r\n]+/)) {
    const colon = line.indexOf(":");
    if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

/**
 * @param {{storage?: import("../core/storage.js").KeyValueStorage}} [options]
 * @returns {import("../core/adapter.js").Adapter}
 */
export function browserAdapter({ storage = window.localStorage } = {}) {
  return {
    platform: "web",
    openSocket(url, { onOpen, onMessage, onClose }) {
      const ws = new WebSocket(url);
      let closed = false;
      const finish = (/** @type {number} */ code, /** @type {string} */ reason) => {
        if (closed) return;
        closed = true;
        onClose(code, reason);
      };
      ws.onopen = () => onOpen();
      ws.onmessage = (event) => {
        if (typeof event.data === "string") onMessage(event.data);
      };
      ws.onclose = (event) => finish(event.code, event.reason);
      ws.onerror = () => {};
      return {
        send: (text) => ws.send(text),
        close: (code = 1000, reason = "") => {
          closed = true;
          ws.onopen = ws.onmessage = ws.onclose = null;
          try {
            ws.close(code >= 4000 || code === 1000 ? code : 1000, reason);
          } catch {
            // already closed
          }
        },
      };
    },
    async request({ method, url, headers, body }) {
      const response = await fetch(url, { method, headers, body });
      return { status: response.status, headers: headerRecord(response.headers), text: await response.text() };
    },
    async requestBytes({ method, url, headers, body }) {
      const response = await fetch(url, { method, headers, body });
      return { status: response.status, headers: headerRecord(response.headers), bytes: new Uint8Array(await response.arrayBuffer()) };
    },
    upload({ url, headers, file, onProgress }) {
      // fetch cannot report upload progress; XHR can.
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", url);
        for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
        xhr.upload.onprogress = (event) => {
          if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
        };
        xhr.onerror = () => reject(new Error("network"));
        xhr.onload = () => resolve({ status: xhr.status, headers: parseRawHeaders(xhr.getAllResponseHeaders()), text: xhr.responseText });
        const form = new FormData();
        form.append("file", file, file.name || "file");
        xhr.send(form);
      });
    },
    storage,
    onNetwork(fn) {
      const online = () => fn(true);
      const offline = () => fn(false);
      window.addEventListener("online", online);
      window.addEventListener("offline", offline);
      return () => {
        window.removeEventListener("online", online);
        window.removeEventListener("offline", offline);
      };
    },
    onForeground(fn) {
      const visible = () => {
        if (document.visibilityState === "visible") fn();
      };
      document.addEventListener("visibilitychange", visible);
      return () => document.removeEventListener("visibilitychange", visible);
    },
    isOnline: () => navigator.onLine !== false,
    files: {
      size: async (file) => file.size,
      name: (file) => file.name || "file",
      slice: async (file, start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer()),
    },
    lock: navigator.locks ? (name, fn) => navigator.locks.request(name, fn) : undefined,
    onStorageChange(key, fn) {
      const listener = (/** @type {StorageEvent} */ event) => {
        if (event.key === key) fn();
      };
      window.addEventListener("storage", listener);
      return () => window.removeEventListener("storage", listener);
    },
  };
}
