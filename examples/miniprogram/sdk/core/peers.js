// What the client knows about other people: user records, presence, who is typing, and how far
// each peer has received and read each conversation (the ticks on our messages).

const TYPING_TTL_MS = 7_000;
const TYPING_RESEND_MS = 3_000;
const MARKS_KEPT = 300;

/** @typedef {{read: number, recv: number, at?: number}} Mark */

export class Peers {
  /**
   * @param {object} deps
   * @param {import("./rest.js").Api} deps.api
   * @param {Record<string, any>} deps.me
   * @param {string} deps.marksKey  storage key of the receipt marks
   * @param {(frame: Record<string, any>) => boolean} deps.send  a frame on the live link
   * @param {(event: string, payload?: any) => void} deps.emit
   * @param {() => boolean} deps.hasPresence
   * @param {import("./storage.js").KeyValueStorage} deps.storage
   * @param {Record<string, Record<string, Mark>>} deps.marks  as stored
   */
  constructor({ api, me, marksKey, send, emit, hasPresence, storage, marks }) {
    this.api = api;
    this.me = me;
    this.marksKey = marksKey;
    this.send = send;
    this.emit = emit;
    this.hasPresence = hasPresence;
    this.storage = storage;
    this.marks = marks;
    /** @type {Map<string, Record<string, any>>} */
    this.users = new Map([[me.id, me]]);
    /** @type {Map<string, {online: boolean, last_seen?: number}>} */
    this.presence = new Map();
    /** @type {Map<string, Map<string, number>>} conv → user → typing until (ms) */
    this.typing = new Map();
    /** @type {Map<string, Promise<any>>} */
    this._userFetches = new Map();
    /** @type {Map<string, number>} */
    this._typingSent = new Map();
  }

  // --- receipts

  /** Sending advances the sender's read watermark, so a message is also a read receipt. */
  sawMessage(/** @type {string} */ convId, /** @type {string} */ userId, /** @type {number} */ seq) {
    const mark = ((this.marks[convId] ||= {})[userId] ||= { read: 0, recv: 0 });
    if (mark.read >= seq) return false;
    mark.read = seq;
    mark.recv = Math.max(mark.recv, seq);
    mark.at = Date.now();
    return true;
  }

  /** Another member's watermark moved. @param {Record<string, any>} frame */
  onReceipt(frame) {
    const perConv = (this.marks[frame.conv] ||= {});
    const mark = (perConv[frame.user] ||= { read: 0, recv: 0 });
    if (frame.read !== undefined) mark.read = Math.max(mark.read, frame.read);
    if (frame.recv !== undefined) mark.recv = Math.max(mark.recv, frame.recv);
    mark.recv = Math.max(mark.recv, mark.read);
    mark.at = Date.now();
    this.saveMarks();
    this.emit("receipts", frame.conv);
  }

  /**
   * What the receipts endpoint says about one of our messages (GET …/messages/{seq}/receipts):
   * watermarks only move forward, so whoever read or received it has everything before it.
   * Without names (a large group) the counts are kept under "*": someone read it.
   * @param {string} convId @param {number} seq
   * @param {{read?: number, delivered?: number, read_by?: string[], delivered_to?: string[]}} receipts
   * @returns {boolean} whether a tick changes
   */
  seed(convId, seq, receipts) {
    const perConv = (this.marks[convId] ||= {});
    let changed = false;
    /** @param {string} user @param {"read" | "recv"} field */
    const raise = (user, field) => {
      const mark = (perConv[user] ||= { read: 0, recv: 0 });
      if (mark[field] >= seq) return;
      mark[field] = seq;
      mark.recv = Math.max(mark.recv, mark.read);
      mark.at = Date.now();
      changed = true;
    };
    if (receipts.read_by || receipts.delivered_to) {
      for (const user of receipts.read_by || []) raise(user, "read");
      for (const user of receipts.delivered_to || []) raise(user, "recv");
    } else {
      if ((receipts.read || 0) > 0) raise("*", "read");
      if ((receipts.delivered || 0) > 0) raise("*", "recv");
    }
    if (changed) {
      this.saveMarks();
      this.emit("receipts", convId);
    }
    return changed;
  }

  saveMarks() {
    const entries = Object.entries(this.marks);
    if (entries.length > MARKS_KEPT) {
      /** @param {Record<string, Mark>} perConv */
      const newest = (perConv) => Math.max(...Object.values(perConv).map((m) => m.at || 0));
      entries.sort((a, b) => newest(b[1]) - newest(a[1]));
      this.marks = Object.fromEntries(entries.slice(0, MARKS_KEPT));
    }
    this.storage.setItem(this.marksKey, JSON.stringify(this.marks));
  }

  /** "read" when another member read it, "delivered" when a device of theirs has it. */
  tickFor(/** @type {string} */ convId, /** @type {number} */ seq) {
    let state = "sent";
    for (const [user, mark] of Object.entries(this.marks[convId] || {})) {
      if (user === this.me.id) continue;
      if (mark.read >= seq) return "read";
      if (mark.recv >= seq) state = "delivered";
    }
    return state;
  }

  // --- typing

  /** @param {Record<string, any>} frame */
  onTyping(frame) {
    if (frame.user === this.me.id) return;
    const typers = this.typing.get(frame.conv) || new Map();
    if (frame.on) typers.set(frame.user, Date.now() + TYPING_TTL_MS);
    else typers.delete(frame.user);
    this.typing.set(frame.conv, typers);
    this.getUser(frame.user);
    this.emit("typing", frame.conv);
  }

  /** A typer the server never said stopped (a lost frame) expires by itself. */
  sweepTyping() {
    const now = Date.now();
    for (const [convId, typers] of this.typing) {
      let changed = false;
      for (const [user, until] of typers) {
        if (until < now) {
          typers.delete(user);
          changed = true;
        }
      }
      if (changed) this.emit("typing", convId);
    }
  }

  typers(/** @type {string} */ convId) {
    return Array.from((this.typing.get(convId) || new Map()).keys());
  }

  /** Tell the others we are typing — at most every few seconds, and once when we stop. */
  setTyping(/** @type {string} */ convId, /** @type {boolean} */ on) {
    const last = this._typingSent.get(convId) || 0;
    const now = Date.now();
    if (on && now - last < TYPING_RESEND_MS) return;
    if (!on && !last) return;
    this._typingSent.set(convId, on ? now : 0);
    this.send({ t: "typing", conv: convId, on });
  }

  // --- users and presence

  userName(/** @type {string} */ userId) {
    if (userId === this.me.id) return this.me.display_name || this.me.username;
    const user = this.users.get(userId);
    if (!user) {
      this.getUser(userId);
      return "…";
    }
    return user.display_name || user.username;
  }

  /** @param {string} userId @returns {Promise<Record<string, any> | null>} */
  getUser(userId) {
    const known = this.users.get(userId);
    if (known) return Promise.resolve(known);
    const inFlight = this._userFetches.get(userId);
    if (inFlight) return inFlight;
    const fetching = this.api
      .get(`/users/${encodeURIComponent(userId)}`)
      .then((user) => {
        this.users.set(user.id, user);
        this.emit("users", user.id);
        return user;
      })
      .catch(() => null)
      .finally(() => this._userFetches.delete(userId));
    this._userFetches.set(userId, fetching);
    return fetching;
  }

  /** @param {Array<Record<string, any>>} users */
  remember(users) {
    for (const user of users) if (user && user.id) this.users.set(user.id, user);
  }

  /** @param {Array<Record<string, any>>} messages */
  learnSenders(messages) {
    for (const message of messages) if (!this.users.has(message.from)) this.getUser(message.from);
  }

  /** @param {Record<string, any>} frame */
  onPresence(frame) {
    this.presence.set(frame.user, { online: frame.online, last_seen: frame.last_seen });
    this.emit("presence", frame.user);
  }

  /** @param {string[]} userIds */
  async refreshPresence(userIds) {
    if (!this.hasPresence()) return;
    for (let i = 0; i < userIds.length; i += 50) {
      const chunk = userIds.slice(i, i + 50);
      try {
        const data = await this.api.get(`/presence?users=${chunk.map(encodeURIComponent).join(",")}`);
        for (const item of data.items) this.presence.set(item.user, { online: item.online, last_seen: item.last_seen });
      } catch {
        return;
      }
    }
    this.emit("presence");
  }
}
