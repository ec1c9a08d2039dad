// Per-conversation ordering and deduplication of delivered messages (pure, no I/O).
//
// Messages reach a client by several paths — live pushes, catch-up pulls after a reconnect,
// gap-filling pulls, the ack of its own send — and each path may repeat or overtake another.
// StreamTracker turns those arrivals into one stream per conversation that is in seq order and
// has no duplicates, relying on the server's guarantee that every conversation's seqs are
// 1, 2, 3, … with no gap. For each conversation it keeps `delivered`: every seq at or below it
// has been handed out. A message above delivered + 1 is held back until the seqs before it
// arrive; `hasGap` tells the caller to fetch them with `pull after=delivered`.

/** @typedef {{conv: string, seq: number} & Record<string, any>} Message */

class Stream {
  /** @param {number} delivered */
  constructor(delivered) {
    this.delivered = delivered;
    /** @type {Map<number, Message>} */
    this.held = new Map();
  }

  /** @returns {Message[]} everything now contiguous with `delivered`, in order */
  drain() {
    const out = [];
    for (;;) {
      const message = this.held.get(this.delivered + 1);
      if (!message) return out;
      this.held.delete(this.delivered + 1);
      out.push(message);
      this.delivered += 1;
    }
  }
}

export class StreamTracker {
  /** @param {Record<string, number>} [delivered]  where each conversation starts (resume state) */
  constructor(delivered = {}) {
    /** @type {Map<string, Stream>} */
    this.streams = new Map();
    for (const [conv, seq] of Object.entries(delivered)) this.streams.set(conv, new Stream(seq));
  }

  /** Whether the conversation has a starting point yet. */
  knows(/** @type {string} */ conv) {
    return this.streams.has(conv);
  }

  /**
   * Set where a conversation starts if it has no starting point yet (its last_seq when first
   * seen: what lies before is history, not news). Returns whether it was set.
   * @param {string} conv
   * @param {number} seq
   */
  baseline(conv, seq) {
    if (this.streams.has(conv)) return false;
    this.streams.set(conv, new Stream(seq));
    return true;
  }

  /** @param {string} conv */
  delivered(conv) {
    const stream = this.streams.get(conv);
    return stream ? stream.delivered : 0;
  }

  /**
   * Offer arrivals (any order, any repeats); returns the ones that became deliverable, in
   * seq order per conversation, each (conv, seq) at most once over the tracker's life.
   * A conversation without a starting point starts from its beginning.
   * @param {Message[]} messages
   * @returns {Message[]}
   */
  offer(messages) {
    const out = [];
    /** @type {Set<Stream>} */
    const touched = new Set();
    for (const message of messages) {
      let stream = this.streams.get(message.conv);
      if (!stream) {
        stream = new Stream(0);
        this.streams.set(message.conv, stream);
      }
      if (message.seq <= stream.delivered || stream.held.has(message.seq)) continue;
      stream.held.set(message.seq, message);
      touched.add(stream);
    }
    for (const stream of touched) out.push(...stream.drain());
    return out;
  }

  /** Whether messages are held back waiting for lower seqs (pull after=delivered). */
  hasGap(/** @type {string} */ conv) {
    const stream = this.streams.get(conv);
    return !!stream && stream.held.size > 0;
  }

  /** Forget a conversation (left or removed). */
  drop(/** @type {string} */ conv) {
    this.streams.delete(conv);
  }

  /** @returns {Record<string, number>} the resume state */
  snapshot() {
    /** @type {Record<string, number>} */
    const out = {};
    for (const [conv, stream] of this.streams) out[conv] = stream.delivered;
    return out;
  }
}
