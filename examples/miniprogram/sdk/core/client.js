// The messenger's state and its conversation with the server: the conversation list with
// unread counts, sync + pull after every (re)connect, the offline outbox, one ordered
// de-duplicated message stream, timelines for display, receipts, typing, presence, uploads.
//
// Guarantees (the same as the Python SDK's Connection):
// * `message` events: each (conv, seq) at most once, each conversation's in ascending seq
//   order, whichever path brought it (live push, catch-up pull, gap fill, our own ack).
// * Every message stored above the starting point is emitted: the starting point is the
//   resume state kept in storage, else each conversation's last_seq at the first start; a
//   conversation first seen later is emitted from its beginning (or the user's join point).
// * `send` stores the message in the outbox first and repeats it with the same cid on every
//   connection until the server acknowledges it, across restarts of the app.

import { Emitter } from "./emitter.js";
import { newCid } from "./ids.js";
import { Link } from "./link.js";
import { Outbox, HIDDEN_KINDS } from "./outbox.js";
import { Sender } from "./sender.js";
import { Timeline } from "./timeline.js";
import { StreamTracker } from "./tracker.js";
import { readJson, writeJson } from "./storage.js";
import { uploadFile } from "./uploads.js";
import { Peers } from "./peers.js";
import { PinLists } from "./marks.js";
import { mergeConversation, mentions, summarize, sortConversations, totalUnread } from "./convlist.js";

const PAGE = 50;
// Probes of the receipts endpoint when a conversation's history is loaded (see _seedTicks).
const MAX_TICK_PROBES = 4;
const PULL_LIMIT = 100;
const MAX_PAGES = 20;

/** @typedef {Record<string, any>} Frame */
/** @typedef {import("./tracker.js").Message} Message */

/**
 * Events: `state` (link state), `convs` (the list changed), `message` (next message of the
 * ordered stream), `timeline` (conv id: its display timeline changed), `receipts` (conv id),
 * `typing` (conv id), `presence` (user id or nothing), `users` (user id), `incoming`
 * ({conv, message}: a live message from someone else in an unmuted conversation),
 * `senderror` ({item, frame}), `removed` (conv id), `authlost`, `displaced` (close code 4011:
 * a newer socket of this user took this one's place; the client stays disconnected, in
 * state "displaced", until the app calls `connect()`), `pins` (conv id: its pin list changed).
 */
export class PigeonClient extends Emitter {
  /**
   * @param {import("./rest.js").Api} api  signed in
   * @param {{ws_url?: string, features?: string[], limits?: Record<string, number>}} config
   *   the server's /api/v1/config
   * @param {{backoff?: Partial<import("./backoff.js").BackoffPolicy>}} [options]
   */
  constructor(api, config, options = {}) {
    super();
    if (!api.user) throw new Error("sign in first");
    this.api = api;
    this.adapter = api.adapter;
    this.storage = api.storage;
    this.config = config;
    this.features = new Set(config.features || []);
    this.limits = config.limits || {};
    this.me = api.user;
    /** @type {Map<string, Record<string, any>>} */
    this.convs = new Map();
    /** @type {Map<string, Timeline>} */
    this.timelines = new Map();
    this.pins = new PinLists({
      api,
      emit: (event, payload) => this.emit(event, payload),
      timeline: (convId) => this.timelines.get(convId),
    });
    /** @type {string | null} */
    this.activeConv = null;
    this.viewing = false; // the active conversation is on screen and scrolled to the end
    /** @type {import("./link.js").LinkState} */
    this.connState = "idle";
    /** @type {{retryAt?: number}} */
    this.connDetail = {};
    this.synced = false;
    const prefix = api.keys.auth.replace(/\.auth$/, "");
    this.keys = {
      outbox: `${prefix}.outbox.${this.me.id}`,
      sync: `${prefix}.sync.${this.me.id}`,
      marks: `${prefix}.marks.${this.me.id}`,
    };
    this.outbox = new Outbox(this.storage, this.keys.outbox);
    this.sender = new Sender({
      outbox: this.outbox,
      ready: () => this.synced && this.link.online,
      send: (frame) => this.link.send(frame),
      emit: (event, payload) => this.emit(event, payload),
      stored: (message) => this._onStored(message),
      me: this.me.id,
    });
    /** @type {{cursor?: string | null, delivered?: Record<string, number>}} */
    const resume = readJson(this.storage, this.keys.sync, /** @type {any} */ ({}));
    this.resumed = !!resume.delivered;
    this.cursor = resume.cursor || null;
    this.tracker = new StreamTracker(resume.delivered || {});
    this.peers = new Peers({
      api,
      me: this.me,
      marksKey: this.keys.marks,
      send: (frame) => this.link.send(frame),
      emit: (event, payload) => this.emit(event, payload),
      hasPresence: () => this.has("presence"),
      storage: this.storage,
      marks: readJson(this.storage, this.keys.marks, {}),
    });
    /** Shared with Peers: user records, presence, typing. */
    this.users = this.peers.users;
    this.presence = this.peers.presence;
    this.typing = this.peers.typing;
    /** @type {Map<string, {id: any, seq: number}>} */
    this._recvTimers = new Map();
    /** @type {Map<string, Promise<void>>} */
    this._pulls = new Map();
    this._loadedOnce = false;
    /** @type {Promise<void> | null} */
    this._resyncing = null;
    this._offForeground = this.adapter.onForeground(() => this._onForeground());
    this._offStorage = this.adapter.onStorageChange
      ? this.adapter.onStorageChange(this.keys.outbox, () => this.sender.adopt())
      : () => {};
    const wsUrl = config.ws_url || api.url("").replace(/^http/, "ws").replace(/\/api\/v1$/, "/ws");
    this.link = new Link(wsUrl, api, {
      onState: (state, detail) => this._onState(state, detail),
      onReady: () => this._onReady(),
      onFrame: (frame) => this._onFrame(frame),
      onAuthLost: () => this.emit("authlost"),
      onDisplaced: (code) => this.emit("displaced", code),
    }, options);
    this._typingSweep = setInterval(() => this.peers.sweepTyping(), 1_000);
    if (typeof this._typingSweep.unref === "function") this._typingSweep.unref();
  }

  /** Whether the server offers a feature; "recall-edit" style names count for each part. */
  has(/** @type {string} */ feature) {
    if (this.features.has(feature)) return true;
    for (const name of this.features) if (String(name).split(/[-_/+.: ]/).includes(feature)) return true;
    return false;
  }

  // --- lifecycle

  /** Load the conversation list, then connect (and keep reconnecting). */
  async start() {
    try {
      await this.loadConversations();
    } finally {
      this.link.start();
    }
  }

  /** Connect without loading the list first (after start() failed, say). */
  connect() {
    this.link.start();
  }

  stop() {
    this.link.stop();
    clearInterval(this._typingSweep);
    for (const timer of this._recvTimers.values()) clearTimeout(timer.id);
    this._recvTimers.clear();
    this._offStorage();
    this._offForeground();
    this.removeAllListeners();
  }

  /** Remove what this account left in storage (outbox, sync state, receipt marks). */
  forgetLocalData() {
    for (const key of Object.values(this.keys)) this.storage.removeItem(key);
  }

  get online() {
    return this.link.online;
  }

  /** Skip the rest of a reconnect wait. */
  connectNow() {
    this.link.connectNow();
  }

  /** @param {import("./link.js").LinkState} state @param {{retryAt?: number}} detail */
  _onState(state, detail) {
    this.connState = state;
    this.connDetail = detail;
    if (state !== "online" && state !== "syncing") {
      this.synced = false;
      this.outbox.resetInflight();
    }
    this.emit("state", state);
  }

  /** Back in the foreground: catch up at once; a socket that slept may have missed pushes. */
  _onForeground() {
    if (!this.synced || this._resyncing) return;
    this._resyncing = this._sync()
      .catch(() => {
        if (this.link.ws) this.link.reconnect("sync failed");
      })
      .finally(() => {
        this._resyncing = null;
      });
  }

  async _onReady() {
    try {
      await this._sync();
      this.synced = true;
      this.link.markOnline();
      this.sender.pump();
      if (this.activeConv && this.viewing) this.markRead(this.activeConv);
      // Receipts pushed while we were away are lost; ask again for what is on screen.
      if (this.activeConv && this.timeline(this.activeConv).loaded) this._seedTicks(this.activeConv).catch(() => {});
    } catch {
      // A failed sync leaves the link useless; drop it and let backoff try again.
      if (this.link.ws) this.link.reconnect("sync failed");
    }
  }

  // --- conversations

  async loadConversations() {
    /** @type {string | null} */
    let cursor = null;
    const seen = new Set();
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
      const data = await this.api.get(`/conversations${query}`);
      for (const item of data.items) {
        seen.add(item.id);
        this._mergeConversation(item);
        // At the very first start, what is stored already is history, not news.
        if (!this.resumed && !this._loadedOnce) this.tracker.baseline(item.id, item.last_seq || 0);
      }
      cursor = data.cursor;
      if (!data.more || !cursor) break;
    }
    if (!this._loadedOnce) {
      this._loadedOnce = true;
      this._saveSyncState();
    }
    for (const id of Array.from(this.convs.keys())) if (!seen.has(id)) this._forget(id);
    this.emit("convs");
    this.refreshPresence();
  }

  /** @param {Record<string, any>} item */
  _mergeConversation(item) {
    const conv = mergeConversation(this.convs.get(item.id), item);
    if (item.peer) this.users.set(item.peer.id, item.peer);
    this.convs.set(item.id, conv);
    return conv;
  }

  /** Add or refresh one conversation the server just handed us (direct open, group create). */
  adoptConversation(/** @type {Record<string, any>} */ item) {
    const conv = this._mergeConversation(item);
    this.emit("convs");
    this.refreshPresence();
    return conv;
  }

  /** @param {string} id */
  _forget(id) {
    this.convs.delete(id);
    this.timelines.delete(id);
    this.typing.delete(id);
    if (this.activeConv === id) this.emit("removed", id);
  }

  removeConversation(/** @type {string} */ id) {
    this._forget(id);
    this.emit("convs");
  }

  /** Pinned first, then by last activity (our own queued sends count). */
  sortedConversations() {
    return sortConversations(this.convs.values(), (conv) => this.activityOf(conv));
  }

  activityOf(/** @type {Record<string, any>} */ conv) {
    const pending = this.outbox.items.filter((i) => i.conv === conv.id);
    const local = pending.length ? pending[pending.length - 1].ts : 0;
    return Math.max(conv.last_ts || 0, conv.last_message ? conv.last_message.ts : 0, local);
  }

  totalUnread() {
    return totalUnread(this.convs.values());
  }

  /** @param {string} convId @param {{muted?: boolean, pinned?: boolean}} settings */
  async updateSettings(convId, settings) {
    const item = await this.api.patch(`/conversations/${encodeURIComponent(convId)}`, settings);
    this.adoptConversation(item);
  }

  /** Open (or find) the direct conversation with a user. @param {string} userId */
  async openDirect(userId) {
    const item = await this.api.post("/conversations/direct", { user_id: userId });
    return this.adoptConversation(item);
  }

  // --- sync

  async _sync() {
    let cursor = this.cursor || undefined;
    /** @type {Frame[]} */
    const changed = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const reply = await this.link.request(cursor ? { t: "sync", cursor } : { t: "sync" });
      changed.push(...reply.convs);
      cursor = reply.cursor;
      if (!reply.more) break;
    }
    let stale = false;
    for (const entry of changed) {
      const conv = this.convs.get(entry.conv);
      if (entry.removed) {
        if (conv) this._forget(entry.conv);
        this.tracker.drop(entry.conv);
        continue;
      }
      if (!conv || entry.last_seq !== conv.last_seq || entry.read_seq !== conv.read_seq) stale = true;
      if (conv) {
        conv.read_seq = entry.read_seq;
        conv.unread = entry.unread;
        if (entry.read_seq >= entry.last_seq) conv.mentioned = false;
      }
    }
    if (stale) await this.loadConversations();
    else this.emit("convs");
    const pulls = [];
    for (const entry of changed) {
      if (entry.removed) continue;
      pulls.push(this.catchUp(entry.conv));
      if (entry.unread > 0 && entry.last_seq > 0) this.link.send({ t: "recv", conv: entry.conv, seq: entry.last_seq });
    }
    const results = await Promise.allSettled(pulls);
    if (results.some((r) => r.status === "rejected")) throw new Error("catch-up failed");
    this.cursor = cursor || this.cursor;
    this._saveSyncState();
  }

  _saveSyncState() {
    writeJson(this.storage, this.keys.sync, { cursor: this.cursor, delivered: this.tracker.snapshot() });
  }

  /**
   * Pull everything after what is delivered (and after the display timeline's end), page by
   * page; pulls of one conversation run one after another.
   * @param {string} convId
   * @returns {Promise<void>}
   */
  catchUp(convId) {
    const previous = this._pulls.get(convId) || Promise.resolve();
    const run = previous.catch(() => {}).then(async () => {
      const timeline = this.timelines.get(convId);
      let after = this.tracker.delivered(convId);
      if (timeline && timeline.loaded) after = Math.min(after, timeline.hi);
      for (let page = 0; page < MAX_PAGES; page++) {
        const reply = await this.link.request({ t: "pull", conv: convId, after, limit: PULL_LIMIT });
        /** @type {Message[]} */
        const items = reply.items;
        if (timeline && timeline.loaded) timeline.extend(items);
        this._ingest(convId, items, this.synced);
        if (!reply.more || items.length === 0) break;
        after = items[items.length - 1].seq;
      }
      this.emit("timeline", convId);
    });
    this._pulls.set(convId, run);
    run.finally(() => {
      if (this._pulls.get(convId) === run) this._pulls.delete(convId);
    }).catch(() => {});
    return run;
  }

  /** Kept for the web views: the same as catchUp. @param {string} convId */
  pullAfter(convId) {
    return this.catchUp(convId).catch(() => {});
  }

  // --- timelines (for display)

  /** @param {string} convId */
  timeline(convId) {
    let timeline = this.timelines.get(convId);
    if (!timeline) {
      timeline = new Timeline(convId, this.me.id);
      this.timelines.set(convId, timeline);
    }
    return timeline;
  }

  /** @param {string} convId */
  async loadLatest(convId) {
    const timeline = this.timeline(convId);
    const conv = this.convs.get(convId);
    const data = await this.history(convId, { limit: PAGE });
    timeline.reset(data.items, data.more, conv ? conv.last_seq : 0, data.first_seq);
    this._ingest(convId, data.items, false);
    this.emit("timeline", convId);
    this._seedTicks(convId).catch(() => {});
    if (conv && conv.last_seq > timeline.hi && this.link.online) await this.pullAfter(convId);
  }

  /** @param {string} convId */
  async loadOlder(convId) {
    const timeline = this.timeline(convId);
    if (!timeline.loaded || !timeline.hasOlder || timeline.loadingOlder || timeline.lo === null) return false;
    timeline.loadingOlder = true;
    try {
      const data = await this.history(convId, { before: timeline.lo, limit: PAGE });
      timeline.prepend(data.items, data.more, data.first_seq);
      this.peers.learnSenders(data.items);
      this.emit("timeline", convId);
      return true;
    } finally {
      timeline.loadingOlder = false;
    }
  }

  /**
   * A page of stored messages over REST (ascending by seq).
   * @param {string} convId @param {{before?: number, after?: number, limit?: number}} [query]
   * `first_seq` is set once retention removed older messages: nothing before it comes back.
   * @returns {Promise<{items: Message[], more: boolean, first_seq?: number}>}
   */
  history(convId, { before, after, limit = PAGE } = {}) {
    const params = [`limit=${limit}`];
    if (before !== undefined) params.push(`before=${before}`);
    if (after !== undefined) params.push(`after=${after}`);
    return this.api.get(`/conversations/${encodeURIComponent(convId)}/messages?${params.join("&")}`);
  }

  /**
   * Messages the signed-in user may read whose text contains `query`, newest first
   * (GET /search/messages). Each item is `{conv, seq, from, ts, snippet}`; `snippet`
   * is an array of plain strings whose odd entries are the matches: render every part
   * as text (never as HTML) and highlight the odd ones. Pass the returned `cursor` for
   * the next page while `more`.
   * @param {string} query
   * @param {{conv?: string, from?: string, before?: number, after?: number, limit?: number, cursor?: string}} [options]
   * @returns {Promise<{items: Array<{conv: string, seq: number, from: string, ts: number, snippet: string[]}>, cursor?: string | null, more: boolean}>}
   */
  searchMessages(query, options = {}) {
    const params = new URLSearchParams({ q: query });
    for (const name of ["conv", "from", "before", "after", "limit", "cursor"]) {
      const value = /** @type {Record<string, unknown>} */ (options)[name];
      if (value !== undefined && value !== null) params.set(name, String(value));
    }
    return this.api.get(`/search/messages?${params.toString()}`);
  }

  /** @param {string | null} convId */
  setActive(convId) {
    this.activeConv = convId;
    this.viewing = false;
  }

  // --- sending

  /**
   * Queue a message: stored at once, sent when connected, repeated with the same cid until
   * acknowledged. Returns the outbox item (its cid identifies the message).
   * @param {string} convId @param {string} kind @param {Record<string, any>} body
   * @param {{reply_to?: number, mentions?: string[]}} [extra]
   */
  send(convId, kind, body, extra = {}) {
    this.setTyping(convId, false);
    return this.sender.queue(convId, kind, body, extra);
  }

  /** @param {string} convId @param {string} text @param {{reply_to?: number, mentions?: string[]}} [extra] */
  sendText(convId, text, extra) {
    return this.send(convId, "text", { text }, extra);
  }

  /**
   * Forward message `seq` of `fromConv` into `toConv` (POST …/messages/{seq}/forward). The copy
   * is an ordinary message of the signed-in user carrying `forwarded: {from, ts}` (the original's
   * author and time); an image or file keeps its `file_id`. It arrives on the live link like any
   * other message; the promise resolves to its ack `{conv, seq, id, ts, cid}`. Repeating a call
   * with the same `cid` resolves to the first copy's ack.
   * @param {string} fromConv @param {number} seq @param {string} toConv
   * @param {{cid?: string}} [options]
   * @returns {Promise<{conv: string, seq: number, id: string, ts: number, cid: string}>}
   */
  forward(fromConv, seq, toConv, { cid = newCid() } = {}) {
    const path = `/conversations/${encodeURIComponent(fromConv)}/messages/${seq}/forward`;
    return this.api.post(path, { cid, to: toConv });
  }

  /**
   * Upload a file (with progress; resumable when large and the platform allows) and return
   * the file object.
   * @param {any} file @param {import("./uploads.js").UploadOptions} [options]
   */
  upload(file, options) {
    return uploadFile(this.api, file, options);
  }

  /**
   * Upload an image and send it: an `image` message when the server could decode it, else a
   * `file` message. Resolves to {file, item}.
   * @param {string} convId @param {any} file
   * @param {{caption?: string, onProgress?: (f: number) => void}} [options]
   */
  async sendImage(convId, file, { caption, onProgress } = {}) {
    const stored = await this.upload(file, { onProgress });
    if (stored.width && stored.height) {
      /** @type {Record<string, any>} */
      const body = { file_id: stored.id, width: stored.width, height: stored.height };
      if (caption) body.caption = caption;
      return { file: stored, item: this.send(convId, "image", body) };
    }
    return { file: stored, item: this.send(convId, "file", { file_id: stored.id, name: stored.name }) };
  }

  /** The file object with fresh signed URLs. @param {string} fileId */
  fileInfo(fileId) {
    return this.api.get(`/files/${encodeURIComponent(fileId)}`);
  }

  // --- reactions and pins

  /**
   * React to message `seq` with one emoji: `on` true adds, false removes, omitted toggles.
   * Queued like a message (sent when connected); the entry updates the timeline when stored.
   * @param {string} convId @param {number} seq @param {string} emoji @param {boolean} [on]
   */
  react(convId, seq, emoji, on) {
    /** @type {Record<string, any>} */
    const body = { seq, emoji };
    if (on !== undefined) body.on = on;
    return this.sender.queue(convId, "react", body, {});
  }

  /** Remove our reaction `emoji` from message `seq`. @param {string} convId @param {number} seq @param {string} emoji */
  unreact(convId, seq, emoji) {
    return this.react(convId, seq, emoji, false);
  }

  /** Pin message `seq` for everyone (groups: owner and admins). @param {string} convId @param {number} seq */
  pin(convId, seq) {
    return this.sender.queue(convId, "pin", { seq }, {});
  }

  /** @param {string} convId @param {number} seq */
  unpin(convId, seq) {
    return this.sender.queue(convId, "unpin", { seq }, {});
  }

  /**
   * The pinned messages we may read, newest pin first (GET …/pins); kept up to date from
   * pin, unpin and recall entries afterwards (event `pins`).
   * @param {string} convId @returns {Promise<import("./marks.js").Pin[]>}
   */
  loadPins(convId) {
    return this.pins.load(convId);
  }

  /** The pin list last loaded (empty before loadPins). @param {string} convId */
  pinsOf(convId) {
    return this.pins.of(convId);
  }

  /** Our messages not yet acknowledged in a conversation. @param {string} convId */
  pendingFor(convId) {
    return this.outbox.pendingFor(convId);
  }

  /** Send a failed message again (same cid). @param {string} cid */
  retry(cid) {
    this.sender.retry(cid);
  }

  /** Give up on a failed message. @param {string} cid */
  discard(cid) {
    this.sender.discard(cid);
  }

  // --- incoming frames

  /** @param {Frame} frame */
  _onFrame(frame) {
    switch (frame.t) {
      case "msg": {
        const { t, ...message } = frame;
        return this._onLive(/** @type {Message} */ (message));
      }
      case "ack":
        return this.sender.onAck(frame);
      case "receipt":
        return this._onReceipt(frame);
      case "typing":
        return this.peers.onTyping(frame);
      case "presence":
        return this.peers.onPresence(frame);
      case "error":
        if (frame.cid) return this.sender.onError(frame);
        return undefined;
      default:
        return this.emit("frame", frame);
    }
  }

  /**
   * A live message (a push, or the echo of our ack).
   * @param {Message} message @param {boolean} [listed]  the list was just reloaded for it
   */
  _onLive(message, listed = false) {
    if (!this.convs.has(message.conv) && !listed) {
      // A conversation we have not seen yet (a new direct chat, an invitation): list it.
      this.loadConversations().then(() => this._onLive(message, true), () => {});
      return;
    }
    const timeline = this.timelines.get(message.conv);
    if (timeline && timeline.loaded) {
      const { gap } = timeline.push(message);
      if (gap) this.pullAfter(message.conv);
      this.emit("timeline", message.conv);
    }
    this._ingest(message.conv, [message], true);
  }

  /**
   * Our own message, acknowledged. A `react` entry's stored body (what the toggle did and
   * the emoji's count) is the server's, not what we sent: fetch that copy.
   * @param {Message} message
   */
  _onStored(message) {
    if (message.kind !== "react") return this._onLive(message);
    this.link.request({ t: "pull", conv: message.conv, after: message.seq - 1, limit: 1 }).then(
      (reply) => this._onLive(reply.items.find((/** @type {Message} */ m) => m.seq === message.seq) || message),
      () => this._onLive(message),
    );
    return undefined;
  }

  /**
   * Every arrival passes here: our sends it settles, the tracker decides what is news, and
   * the news updates the list, unread counts, receipts and the `message` stream.
   * @param {string} convId @param {Message[]} messages @param {boolean} live
   */
  _ingest(convId, messages, live) {
    if (!messages.length) return;
    for (const message of messages) {
      if (message.from === this.me.id && message.cid && this.outbox.settle(message.conv, message.cid)) {
        this.emit("timeline", message.conv);
      }
    }
    const news = this.tracker.offer(messages);
    for (const message of news) this.pins.fold(message);
    if (news.length) {
      this._afterIncoming(convId, news, live);
      this._saveSyncState();
      for (const message of news) this.emit("message", message);
    } else if (this.activeConv === convId && this.viewing) {
      this.markRead(convId);
    }
    if (this.tracker.hasGap(convId) && this.link.online) this.pullAfter(convId);
  }

  /** Bookkeeping for messages that are news. @param {string} convId @param {Message[]} messages @param {boolean} live */
  _afterIncoming(convId, messages, live) {
    const conv = this.convs.get(convId);
    this.peers.learnSenders(messages);
    let changed = false;
    let newest = 0;
    let peersRead = false;
    for (const message of messages) {
      if (!conv) continue;
      if (message.from !== this.me.id && message.kind !== "system") peersRead = this.peers.sawMessage(convId, message.from, message.seq) || peersRead;
      newest = Math.max(newest, message.seq);
      const viewing = this.activeConv === convId && this.viewing;
      changed = summarize(conv, message, { me: this.me.id, live, viewing }) || changed;
      if (live && message.from !== this.me.id && !HIDDEN_KINDS.has(message.kind) && !conv.muted) {
        this.emit("incoming", { conv, message });
      }
    }
    if (conv && newest && messages.some((m) => m.from !== this.me.id)) this._scheduleRecv(convId, newest);
    if (changed) this.emit("convs");
    if (peersRead) {
      this.peers.saveMarks();
      this.emit("receipts", convId);
    }
    if (this.activeConv === convId && this.viewing) this.markRead(convId);
  }

  /** Whether a message mentions us (or @all). @param {Message} message */
  mentionsMe(message) {
    return mentions(message, this.me.id);
  }

  /** @param {string} convId @param {number} seq */
  _scheduleRecv(convId, seq) {
    const timer = this._recvTimers.get(convId);
    if (timer && timer.seq >= seq) return;
    if (timer) clearTimeout(timer.id);
    const id = setTimeout(() => {
      this._recvTimers.delete(convId);
      this.link.send({ t: "recv", conv: convId, seq });
    }, 150);
    this._recvTimers.set(convId, { id, seq });
  }

  /** Everything in the conversation is read (sends the watermark). @param {string} convId */
  markRead(convId) {
    const conv = this.convs.get(convId);
    if (!conv) return;
    const timeline = this.timelines.get(convId);
    const seq = Math.max(conv.last_seq || 0, timeline ? timeline.hi : 0);
    const hadUnread = conv.unread || conv.mentioned;
    conv.unread = 0;
    conv.mentioned = false;
    if (seq > (conv.read_seq || 0) || hadUnread) {
      conv.read_seq = Math.max(conv.read_seq || 0, seq);
      if (seq > 0) this.link.send({ t: "read", conv: convId, seq });
      this.emit("convs");
    }
  }

  // --- receipts, typing, users, presence (kept in Peers)

  /** @param {Frame} frame */
  _onReceipt(frame) {
    if (frame.user !== this.me.id) {
      this.peers.onReceipt(frame);
      return;
    }
    // Our own read watermark moved on another device.
    const conv = this.convs.get(frame.conv);
    if (!conv || frame.read === undefined || frame.read <= (conv.read_seq || 0)) return;
    conv.read_seq = frame.read;
    if (frame.read >= conv.last_seq) {
      conv.unread = 0;
      conv.mentioned = false;
    }
    this.emit("convs");
  }

  /**
   * Ticks for a history this device never saw receipts for (a fresh sign-in, a reconnect):
   * ask the receipts endpoint about our newest loaded message, and while it is not read,
   * search our older loaded ones for the newest read one (a few probes at most).
   * @param {string} convId
   */
  async _seedTicks(convId) {
    const timeline = this.timelines.get(convId);
    if (!timeline || !this.has("receipts")) return;
    const own = timeline.visible().filter((m) => m.from === this.me.id && m.kind !== "system" && !HIDDEN_KINDS.has(m.kind)).map((m) => m.seq);
    let lo = 0;
    let hi = own.length - 1;
    for (let probe = 0; probe < MAX_TICK_PROBES && lo <= hi; probe++) {
      // The first probe is the newest message: in an active chat it is usually read already.
      const at = probe === 0 ? hi : Math.floor((lo + hi) / 2);
      const seq = own[at];
      if (this.peers.tickFor(convId, seq) === "read") {
        lo = at + 1;
        continue;
      }
      const receipts = await this.api.get(`/conversations/${encodeURIComponent(convId)}/messages/${seq}/receipts`);
      this.peers.seed(convId, seq, receipts);
      if ((receipts.read || 0) > 0) lo = at + 1;
      else hi = at - 1;
    }
  }

  /** "sent", "delivered" or "read" for one of our messages. @param {string} convId @param {number} seq */
  tickFor(convId, seq) {
    return this.peers.tickFor(convId, seq);
  }

  /** Who is typing in a conversation now. @param {string} convId */
  typers(convId) {
    return this.peers.typers(convId);
  }

  /** Tell the others we are typing (throttled) or stopped. @param {string} convId @param {boolean} on */
  setTyping(convId, on) {
    this.peers.setTyping(convId, on);
  }

  /** @param {string} userId */
  userName(userId) {
    return this.peers.userName(userId);
  }

  /** @param {string} userId */
  getUser(userId) {
    return this.peers.getUser(userId);
  }

  /** @param {Array<Record<string, any>>} users */
  rememberUsers(users) {
    this.peers.remember(users);
  }

  /** @param {string[]} [userIds]  default: every direct-chat peer */
  refreshPresence(userIds) {
    const ids = userIds || Array.from(this.convs.values()).filter((c) => c.peer).map((c) => c.peer.id);
    return this.peers.refreshPresence(ids);
  }
}
