// The outbox: every message is stored here first (in localStorage, so a reload or a lost
// connection keeps it), sent with its cid once the link is synced, and removed when the
// server's ack — or the message itself, pulled or pushed — shows it is stored. A resend
// after any failure reuses the cid, so the server keeps exactly one copy.

import { HIDDEN_KINDS } from "./timeline.js";

const SEND_WINDOW = 8;

export function readJson(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key) || "null");
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

function newCid(device) {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `${device}-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}`.slice(0, 64);
}

/** Methods mixed into Client (they share its state: socket, timelines, listeners). */
export const outboxMethods = {
  send(convId, kind, body, { reply_to, mentions } = {}) {
    const device = (this.api.auth && this.api.auth.device) || "web";
    const item = { cid: newCid(device), conv: convId, kind, body, ts: Date.now(), state: "queued" };
    if (reply_to) item.reply_to = reply_to;
    if (mentions && mentions.length) item.mentions = mentions;
    this.outbox.push(item);
    this._saveOutbox();
    this.setTyping(convId, false);
    this.emit("timeline", convId);
    this.emit("convs");
    this._pump();
    return item;
  },

  pendingFor(convId) {
    return this.outbox.filter((item) => item.conv === convId && !HIDDEN_KINDS.has(item.kind));
  },

  retry(cid) {
    const item = this.outbox.find((i) => i.cid === cid);
    if (!item) return;
    item.state = "queued";
    delete item.error;
    this._saveOutbox();
    this.emit("timeline", item.conv);
    this._pump();
  },

  discard(cid) {
    const item = this.outbox.find((i) => i.cid === cid);
    this.outbox = this.outbox.filter((i) => i.cid !== cid);
    this._saveOutbox();
    if (item) this.emit("timeline", item.conv);
  },

  _pump() {
    if (!this.synced || !this.socket.online) return;
    let inflight = this.outbox.filter((i) => i.inflight).length;
    for (const item of this.outbox) {
      if (inflight >= SEND_WINDOW) break;
      if (item.inflight || item.state === "failed") continue;
      const frame = { t: "send", cid: item.cid, conv: item.conv, kind: item.kind, body: item.body };
      if (item.reply_to) frame.reply_to = item.reply_to;
      if (item.mentions) frame.mentions = item.mentions;
      if (!this.socket.send(frame)) break;
      item.inflight = true;
      inflight += 1;
    }
  },

  _onAck(ack) {
    const item = this.outbox.find((i) => i.cid === ack.cid);
    if (!item) return;
    const message = {
      conv: ack.conv,
      seq: ack.seq,
      id: ack.id,
      from: this.me.id,
      kind: item.kind,
      body: item.body,
      ts: ack.ts,
      cid: ack.cid,
    };
    if (item.reply_to) message.reply_to = item.reply_to;
    if (item.mentions) message.mentions = item.mentions;
    this._settleOutbox(message);
    const timeline = this.timelines.get(ack.conv);
    if (timeline && timeline.loaded) {
      const { gap } = timeline.push(message);
      if (gap) this.pullAfter(ack.conv);
    }
    this._afterIncoming(ack.conv, [message], false);
    this.emit("timeline", ack.conv);
    this.emit("convs");
    this._pump();
  },

  _onSendError(frame) {
    const item = this.outbox.find((i) => i.cid === frame.cid);
    if (!item) return;
    item.inflight = false;
    if (frame.code === 42900) {
      setTimeout(() => this._pump(), 1_000);
      return;
    }
    if (HIDDEN_KINDS.has(item.kind)) {
      // A refused edit or recall has no bubble of its own to retry from: drop it, say why.
      this.outbox = this.outbox.filter((i) => i !== item);
      this._saveOutbox();
      this.emit("senderror", { item, frame });
      this._pump();
      return;
    }
    item.state = "failed";
    item.error = frame.message;
    this._saveOutbox();
    this.emit("timeline", item.conv);
    this.emit("senderror", { item, frame });
  },

  /** A message of ours arrived (ack, pull or another tab): its outbox entry is done. */
  _settleOutbox(message) {
    if (message.from !== this.me.id || !message.cid) return;
    const index = this.outbox.findIndex((i) => i.cid === message.cid && i.conv === message.conv);
    if (index < 0) return;
    this.outbox.splice(index, 1);
    this._saveOutbox();
  },

  _saveOutbox() {
    const stored = this.outbox.map(({ inflight, ...rest }) => rest);
    localStorage.setItem(this._keys.outbox, JSON.stringify(stored));
  },

  _adoptOutbox() {
    const inflight = new Set(this.outbox.filter((i) => i.inflight).map((i) => i.cid));
    const stored = readJson(this._keys.outbox, []);
    this.outbox = stored.map((item) => ({ ...item, inflight: inflight.has(item.cid) }));
    for (const convId of new Set(stored.map((i) => i.conv))) this.emit("timeline", convId);
    this.emit("timeline", this.activeConv);
    this._pump();
  },
};
