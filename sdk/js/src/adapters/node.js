// Node adapter: the `ws` package (Node 20 has no stable global WebSocket), global fetch,
// storage in memory or in a JSON file, files as {path} or {name, data}. Node has no network
// or foreground events of its own; `signals()` lets the host application raise them.

import { readFileSync, writeFileSync, renameSync, statSync, openSync, readSync, closeSync } from "node:fs";
import { basename } from "node:path";
import WebSocket from "ws";

import { MemoryStorage } from "../core/storage.js";

/** A storage kept in one JSON file, written through on every change (small data only). */
export class FileStorage extends MemoryStorage {
  /** @param {string} path */
  constructor(path) {
    super();
    this.path = path;
    try {
      for (const [key, value] of Object.entries(JSON.parse(readFileSync(path, "utf8")))) this.map.set(key, String(value));
    } catch {
      // no file yet
    }
  }
  /** @param {string} key @param {string} value */
  setItem(key, value) {
    super.setItem(key, value);
    this._flush();
  }
  /** @param {string} key */
  removeItem(key) {
    super.removeItem(key);
    this._flush();
  }
  _flush() {
    // Write aside and rename, so a crash never leaves half a file.
    const temp = `${this.path}.tmp`;
    writeFileSync(temp, JSON.stringify(Object.fromEntries(this.map)));
    renameSync(temp, this.path);
  }
}

/** @param {any} file @returns {Uint8Array} */
function bytesOf(file) {
  if (file instanceof Uint8Array) return file;
  if (file.data) return file.data instanceof Uint8Array ? file.data : new Uint8Array(file.data);
  return readFileSync(file.path);
}

/** @param {any} file */
function nameOf(file) {
  return file.name || (file.path ? basename(file.path) : "file");
}

/** Escape a filename for a multipart header. @param {string} name */
function quoted(name) {
  return name.replace(/["\\\r\n]/g, "_");
}

/**
 * @param {{storage?: import("../core/storage.js").KeyValueStorage}} [options]
 * @returns {import("../core/adapter.js").Adapter & {signals: {network: (online: boolean) => void, foreground: () => void}}}
 */
export function nodeAdapter({ storage = new MemoryStorage() } = {}) {
  /** @type {Set<(online: boolean) => void>} */
  const network = new Set();
  /** @type {Set<() => void>} */
  const foreground = new Set();
  let online = true;
  return {
    platform: "node",
    openSocket(url, { onOpen, onMessage, onClose }) {
      const ws = new WebSocket(url);
      let closed = false;
      ws.on("open", () => onOpen());
      ws.on("message", (data, isBinary) => {
        if (!isBinary) onMessage(data.toString());
      });
      ws.on("close", (code, reason) => {
        if (closed) return;
        closed = true;
        onClose(code, reason.toString());
      });
      ws.on("error", () => {
        // "close" follows; nothing to add.
      });
      return {
        send: (text) => ws.send(text),
        close: (code = 1000, reason = "") => {
          closed = true;
          ws.removeAllListeners("message");
          ws.on("error", () => {});
          if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
          else ws.close(code >= 4000 || code === 1000 ? code : 1000, reason);
        },
      };
    },
    async request({ method, url, headers, body }) {
      const response = await fetch(url, { method, headers, body });
      /** @type {Record<string, string>} */
      const out = {};
      response.headers.forEach((value, name) => {
        out[name.toLowerCase()] = value;
      });
      return { status: response.status, headers: out, text: await response.text() };
    },
    async requestBytes({ method, url, headers, body }) {
      const response = await fetch(url, { method, headers, body });
      /** @type {Record<string, string>} */
      const out = {};
      response.headers.forEach((value, name) => {
        out[name.toLowerCase()] = value;
      });
      return { status: response.status, headers: out, bytes: new Uint8Array(await response.arrayBuffer()) };
    },
    async upload({ url, headers, file, onProgress }) {
      const data = bytesOf(file);
      const boundary = `pigeon${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
      const head = new TextEncoder().encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quoted(nameOf(file))}"\r\n` +
          "Content-Type: application/octet-stream\r\n\r\n",
      );
      const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
      const total = head.length + data.length + tail.length;
      const step = 64 * 1024;
      let sent = 0;
      // Streamed in pieces, so progress is reported as the server takes them.
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue(head);
        },
        pull(controller) {
          if (sent >= data.length) {
            controller.enqueue(tail);
            controller.close();
            return;
          }
          const piece = data.subarray(sent, sent + step);
          sent += piece.length;
          controller.enqueue(piece);
          if (onProgress) onProgress((head.length + sent) / total);
        },
      });
      const response = await fetch(url, {
        method: "POST",
        headers: { ...headers, "Content-Type": `multipart/form-data; boundary=${boundary}` },
        body: stream,
        // @ts-ignore: Node's fetch needs this for a streamed body
        duplex: "half",
      });
      /** @type {Record<string, string>} */
      const out = {};
      response.headers.forEach((value, name) => {
        out[name.toLowerCase()] = value;
      });
      return { status: response.status, headers: out, text: await response.text() };
    },
    storage,
    onNetwork(fn) {
      network.add(fn);
      return () => network.delete(fn);
    },
    onForeground(fn) {
      foreground.add(fn);
      return () => foreground.delete(fn);
    },
    isOnline: () => online,
    files: {
      size: async (file) => (file.path && !file.data ? statSync(file.path).size : bytesOf(file).length),
      name: nameOf,
      async slice(file, start, end) {
        if (!file.path || file.data) return bytesOf(file).subarray(start, end);
        const fd = openSync(file.path, "r");
        try {
          const buffer = new Uint8Array(end - start);
          const read = readSync(fd, buffer, 0, end - start, start);
          return buffer.subarray(0, read);
        } finally {
          closeSync(fd);
        }
      },
    },
    signals: {
      network(value) {
        online = value;
        for (const fn of network) fn(value);
      },
      foreground() {
        for (const fn of foreground) fn();
      },
    },
  };
}
