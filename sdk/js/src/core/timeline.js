// One conversation's messages in memory: deduplicated by seq, with the highest seq up to
// which the stream is known to be complete (`hi`), so a gap is noticed and pulled.

import { HIDDEN_KINDS } from "./outbox.js";
import { applyReaction, NOTICE_KINDS } from "./marks.js";

export { HIDDEN_KINDS };

export class Timeline {
  /** @param {string} convId @param {string} [me]  whose reactions count as "mine" */
  constructor(convId, me = "") {
    this.conv = convId;
    this.me = me;
    this.bySeq = new Map();
    this.lo = null; // lowest seq loaded
    this.hi = 0; // every seq from lo to hi is loaded
    this.hasOlder = true;
    this.firstSeq = null; // set once retention removed older messages: the oldest seq kept
    this.loaded = false;
    this.loadingOlder = false;
    this.chain = Promise.resolve();
    this.version = 0;
    this._sorted = null;
  }

  /**
   * Replace everything with the latest page from history.
   * @param {any[]} items @param {boolean} more @param {number} [lastSeq] @param {number | null} [firstSeq]
   */
  reset(items, more, lastSeq = 0, firstSeq = null) {
    this.firstSeq = firstSeq ?? null;
    this.bySeq.clear();
    this.lo = null;
    this.hi = items.length ? 0 : lastSeq;
    for (const message of items) this._put(message);
    if (items.length) {
      this.lo = items[0].seq;
      this.hi = items[items.length - 1].seq;
    }
    this.hasOlder = !!more;
    this.loaded = true;
    this._changed();
  }

  /**
   * Older messages (a `before=` page); they sit just below `lo`.
   * @param {any[]} items @param {boolean} more @param {number | null} [firstSeq]
   */
  prepend(items, more, firstSeq = null) {
    if (firstSeq) this.firstSeq = firstSeq;
    for (const message of items) this._put(message);
    if (items.length) this.lo = Math.min(this.lo ?? items[0].seq, items[0].seq);
    this.hasOlder = !!more;
    this._changed();
  }

  /**
   * Messages known to follow `hi` without a gap (an `after=` pull or an ack's echo).
   * Returns the messages that were new.
   */
  extend(items) {
    const fresh = [];
    for (const message of items) if (this._put(message)) fresh.push(message);
    for (const message of items) this.hi = Math.max(this.hi, message.seq);
    if (this.lo === null && items.length) this.lo = items[0].seq;
    this._absorb();
    if (fresh.length || items.length) this._changed();
    return fresh;
  }

  /** A live push. Returns {fresh, gap}: whether it was new, and whether seqs are missing. */
  push(message) {
    const fresh = this._put(message);
    if (this.lo === null) this.lo = message.seq;
    this._absorb();
    if (fresh) this._changed();
    return { fresh, gap: this.hi < message.seq };
  }

  _absorb() {
    while (this.bySeq.has(this.hi + 1)) this.hi += 1;
  }

  _put(message) {
    if (this.bySeq.has(message.seq)) {
      // A recalled or edited copy from history beats what we had; anything else is a duplicate.
      const known = this.bySeq.get(message.seq);
      const reactionsMoved = JSON.stringify(message.reactions || []) !== JSON.stringify(known.reactions || []);
      if ((message.recalled && !known.recalled) || (message.edited_at && message.edited_at !== known.edited_at) || (message.reactions && reactionsMoved)) {
        this.bySeq.set(message.seq, { ...message });
        this._changed();
      }
      return false;
    }
    this.bySeq.set(message.seq, { ...message });
    this._apply(message);
    return true;
  }

  /** Edits, recalls and reactions change their target in place. */
  _apply(message) {
    if (!HIDDEN_KINDS.has(message.kind) || !message.body) return;
    const target = this.bySeq.get(message.body.seq);
    if (!target) return;
    if (message.kind === "recall") {
      this.bySeq.set(target.seq, { ...target, recalled: true, body: {}, reactions: [] });
    } else if (message.kind === "react" && !target.recalled) {
      this.bySeq.set(target.seq, { ...target, reactions: applyReaction(target.reactions, message, this.me) });
    } else if (message.kind === "edit" && !target.recalled) {
      this.bySeq.set(target.seq, { ...target, body: { ...target.body, text: message.body.text }, edited_at: message.ts });
    }
  }

  get(seq) {
    return this.bySeq.get(seq);
  }

  _changed() {
    this._sorted = null;
    this.version += 1;
  }

  touch() {
    this._changed();
  }

  /** Visible messages in order: edits, recalls and reactions are folded into their targets;
   * pin and unpin entries stay, as notices. */
  visible() {
    if (!this._sorted) {
      this._sorted = Array.from(this.bySeq.values())
        .filter((m) => !HIDDEN_KINDS.has(m.kind) || NOTICE_KINDS.has(m.kind))
        .sort((a, b) => a.seq - b.seq);
    }
    return this._sorted;
  }
}
