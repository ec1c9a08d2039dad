// The outbox: every message is stored here first (in the platform's storage, so a restart or a
// lost connection keeps it), sent with its cid once the link is synced, and removed when the
// server's ack — or the message itself, pulled or pushed — shows it is stored. A resend after
// any failure reuses the cid, so the server keeps exactly one copy. Pure bookkeeping: the
// client decides when to send.

import { newCid } from "./ids.js";
import { readJson, writeJson } from "./storage.js";

/** Kinds that change another message and have no bubble of their own. */
export const HIDDEN_KINDS = new Set(["edit", "recall", "react", "pin", "unpin"]);

/** How many sends may be unacknowledged at once. */
export const SEND_WINDOW = 8;

/**
 * @typedef {object} OutboxItem
 * @property {string} cid
 * @property {string} conv
 * @property {string} kind
 * @property {Record<string, any>} body
 * @property {number} ts
 * @property {"queued" | "failed"} state
 * @property {number} [reply_to]
 * @property {string[]} [mentions]
 * @property {string} [error]
 * @property {boolean} [inflight]  not stored: true while sent on the current socket
 */

export class Outbox {
  /**
   * @param {import("./storage.js").KeyValueStorage} storage
   * @param {string} key
   */
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
    /** @type {OutboxItem[]} */
    this.items = [];
    this.load();
  }

  /** (Re)read the stored items, keeping which of them are in flight on this socket. */
  load() {
    const inflight = new Set(this.items.filter((i) => i.inflight).map((i) => i.cid));
    /** @type {OutboxItem[]} */
    const stored = readJson(this.storage, this.key, []);
    this.items = (Array.isArray(stored) ? stored : []).map((item) => ({ ...item, inflight: inflight.has(item.cid) }));
  }

  save() {
    writeJson(this.storage, this.key, this.items.map(({ inflight, ...rest }) => rest));
  }

  /**
   * @param {string} conv
   * @param {string} kind
   * @param {Record<string, any>} body
   * @param {{reply_to?: number, mentions?: string[]}} [extra]
   * @returns {OutboxItem}
   */
  add(conv, kind, body, { reply_to, mentions } = {}) {
    /** @type {OutboxItem} */
    const item = { cid: newCid(), conv, kind, body, ts: Date.now(), state: "queued" };
    if (reply_to) item.reply_to = reply_to;
    if (mentions && mentions.length) item.mentions = mentions;
    this.items.push(item);
    this.save();
    return item;
  }

  /** @param {string} cid */
  find(cid) {
    return this.items.find((i) => i.cid === cid);
  }

  /** @param {string} conv */
  pendingFor(conv) {
    return this.items.filter((item) => item.conv === conv && !HIDDEN_KINDS.has(item.kind));
  }

  /**
   * Items to send now: queued, not in flight, within the window. Marks them in flight.
   * @param {number} [window]
   * @returns {OutboxItem[]}
   */
  take(window = SEND_WINDOW) {
    let inflight = this.items.filter((i) => i.inflight).length;
    const out = [];
    for (const item of this.items) {
      if (inflight >= window) break;
      if (item.inflight || item.state === "failed") continue;
      item.inflight = true;
      inflight += 1;
      out.push(item);
    }
    return out;
  }

  /** The socket went away: whatever was in flight is sent again on the next one. */
  resetInflight() {
    for (const item of this.items) item.inflight = false;
  }

  /**
   * A message of ours is stored (ack, pull, push): its entry is done.
   * @param {string} conv @param {string} cid
   * @returns {OutboxItem | undefined} the settled item
   */
  settle(conv, cid) {
    const index = this.items.findIndex((i) => i.cid === cid && i.conv === conv);
    if (index < 0) return undefined;
    const [item] = this.items.splice(index, 1);
    this.save();
    return item;
  }

  /** @param {string} cid @param {string} error */
  fail(cid, error) {
    const item = this.find(cid);
    if (!item) return;
    item.inflight = false;
    item.state = "failed";
    item.error = error;
    this.save();
  }

  /** @param {string} cid */
  retry(cid) {
    const item = this.find(cid);
    if (!item) return undefined;
    item.state = "queued";
    item.inflight = false;
    delete item.error;
    this.save();
    return item;
  }

  /** @param {string} cid */
  discard(cid) {
    const item = this.find(cid);
    this.items = this.items.filter((i) => i.cid !== cid);
    this.save();
    return item;
  }
}

/** A frame for one outbox item. @param {OutboxItem} item */
export function sendFrame(item) {
  /** @type {Record<string, any>} */
  const frame = { t: "send", cid: item.cid, conv: item.conv, kind: item.kind, body: item.body };
  if (item.reply_to) frame.reply_to = item.reply_to;
  if (item.mentions) frame.mentions = item.mentions;
  return frame;
}
