// Sending through the outbox: queue, send within the window once the link is synced, settle on
// the ack, and sort out refusals (rate limits are retried, other errors mark the message
// failed; a refused edit or recall is dropped, since it has no bubble to retry from).

import { HIDDEN_KINDS, sendFrame } from "./outbox.js";

const RATE_LIMITED = 42900;
const RATE_LIMIT_RETRY_MS = 1_000;

export class Sender {
  /**
   * @param {object} deps
   * @param {import("./outbox.js").Outbox} deps.outbox
   * @param {() => boolean} deps.ready  the link is synced: sends may go out
   * @param {(frame: Record<string, any>) => boolean} deps.send  a frame on the live link
   * @param {(event: string, payload?: any) => void} deps.emit
   * @param {(message: import("./tracker.js").Message) => void} deps.stored  our message has a seq
   * @param {string} deps.me  our user id
   */
  constructor({ outbox, ready, send, emit, stored, me }) {
    this.outbox = outbox;
    this.ready = ready;
    this.sendFrame = send;
    this.emit = emit;
    this.stored = stored;
    this.me = me;
  }

  /**
   * @param {string} convId @param {string} kind @param {Record<string, any>} body
   * @param {{reply_to?: number, mentions?: string[]}} [extra]
   */
  queue(convId, kind, body, extra = {}) {
    const item = this.outbox.add(convId, kind, body, extra);
    this.emit("timeline", convId);
    this.emit("convs");
    this.pump();
    return item;
  }

  /** Send what the window allows, if the link is ready. */
  pump() {
    if (!this.ready()) return;
    for (const item of this.outbox.take()) {
      if (!this.sendFrame(sendFrame(item))) {
        item.inflight = false;
        break;
      }
    }
  }

  /** @param {Record<string, any>} ack */
  onAck(ack) {
    const item = this.outbox.find(ack.cid);
    if (!item) return;
    /** @type {import("./tracker.js").Message} */
    const message = { conv: ack.conv, seq: ack.seq, id: ack.id, from: this.me, kind: item.kind, body: item.body, ts: ack.ts, cid: ack.cid };
    if (item.reply_to) message.reply_to = item.reply_to;
    if (item.mentions) message.mentions = item.mentions;
    this.stored(message);
    this.emit("convs");
    this.pump();
  }

  /** An `error` frame naming one of our cids. @param {Record<string, any>} frame */
  onError(frame) {
    const item = this.outbox.find(frame.cid);
    if (!item) return;
    item.inflight = false;
    if (frame.code === RATE_LIMITED) {
      setTimeout(() => this.pump(), RATE_LIMIT_RETRY_MS);
      return;
    }
    if (HIDDEN_KINDS.has(item.kind)) {
      this.outbox.discard(item.cid);
      this.emit("senderror", { item, frame });
      this.pump();
      return;
    }
    this.outbox.fail(item.cid, frame.message);
    this.emit("timeline", item.conv);
    this.emit("senderror", { item, frame });
  }

  /** @param {string} cid */
  retry(cid) {
    const item = this.outbox.retry(cid);
    if (!item) return;
    this.emit("timeline", item.conv);
    this.pump();
  }

  /** @param {string} cid */
  discard(cid) {
    const item = this.outbox.discard(cid);
    if (item) this.emit("timeline", item.conv);
  }

  /** Another tab changed the stored outbox: take it over. */
  adopt() {
    const before = new Set(this.outbox.items.map((i) => i.conv));
    this.outbox.load();
    for (const convId of new Set([...before, ...this.outbox.items.map((i) => i.conv)])) this.emit("timeline", convId);
    this.pump();
  }
}
