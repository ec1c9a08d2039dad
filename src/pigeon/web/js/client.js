// The messenger's state and its conversation with the server: the conversation list,
// timelines, sync after every (re)connect, the offline outbox, receipts, typing, presence.

import { Socket } from "./socket.js";
import { Timeline, HIDDEN_KINDS } from "./timeline.js";
import { outboxMethods, readJson } from "./outbox.js";

const PAGE = 50;
const MAX_PAGES = 20;
const TYPING_TTL_MS = 7_000;
const TYPING_RESEND_MS = 3_000;
const MARKS_KEPT = 300;

export class Client {
  constructor(api, config) {
    this.api = api;
    this.config = config;
    this.features = new Set(config.features || []);
    this.limits = config.limits || {};
    this.me = api.user;
    this.convs = new Map();
    this.timelines = new Map();
    this.users = new Map([[this.me.id, this.me]]);
    this.presence = new Map();
    this.typing = new Map();
    this.activeConv = null;
    this.viewing = false; // the active conversation is on screen and scrolled to the end
    this.connState = "connecting";
    this.connDetail = {};
    this.synced = false;
    this.cursor = null;
    this._listeners = new Map();
    this._userFetches = new Map();
    this._recvTimers = new Map();
    this._typingSent = new Map();
    this._keys = {
      outbox: `pigeon.outbox.${this.me.id}`,
      cursor: `pigeon.cursor.${this.me.id}`,
      marks: `pigeon.marks.${this.me.id}`,
    };
    this.outbox = readJson(this._keys.outbox, []).map((item) => ({ ...item, inflight: false }));
    this.marks = readJson(this._keys.marks, {});
    this._onStorage = (event) => {
      if (event.key === this._keys.outbox) this._adoptOutbox();
    };
    window.addEventListener("storage", this._onStorage);
    const wsUrl = config.ws_url || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.socket = new Socket(wsUrl, api, {
      onState: (state, detail) => this._onState(state, detail),
      onReady: (ready) => this._onReady(ready),
      onFrame: (frame) => this._onFrame(frame),
      onAuthLost: () => this.emit("authlost"),
    });
    this._typingSweep = setInterval(() => this._sweepTyping(), 1_000);
  }

  /** Whether the server offers a feature; "recall-edit" style names count for each part. */
  has(feature) {
    if (this.features.has(feature)) return true;
    for (const name of this.features) if (String(name).split(/[-_/+.: ]/).includes(feature)) return true;
    return false;
  }

  // --- events

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event).delete(fn);
  }

  emit(event, payload) {
    for (const fn of this._listeners.get(event) || []) {
      try {
        fn(payload);
      } catch (error) {
        console.error(error);
      }
    }
  }

  // --- lifecycle

  async start() {
    await this.loadConversations();
    this.socket.start();
  }

  stop() {
    this.socket.stop();
    clearInterval(this._typingSweep);
    window.removeEventListener("storage", this._onStorage);
    this._listeners.clear();
  }

  _onState(state, detail) {
    this.connState = state;
    this.connDetail = detail;
    if (state !== "online" && state !== "syncing") {
      this.synced = false;
      for (const item of this.outbox) item.inflight = false;
    }
    this.emit("state", state);
  }

  async _onReady() {
    try {
      await this._sync();
      this.synced = true;
      this.socket.markOnline();
      this._pump();
      if (this.activeConv && this.viewing) this.markRead(this.activeConv);
    } catch (error) {
      // A failed sync leaves the link useless; drop it and let backoff try again.
      if (this.socket.ws) this.socket._drop("sync failed");
    }
  }

  // --- conversations

  async loadConversations() {
    let cursor = null;
    const seen = new Set();
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
      const data = await this.api.get(`/conversations${query}`);
      for (const item of data.items) {
        seen.add(item.id);
        this._mergeConversation(item);
      }
      cursor = data.cursor;
      if (!data.more || !cursor) break;
    }
    for (const id of Array.from(this.convs.keys())) if (!seen.has(id)) this._forget(id);
    this.emit("convs");
    this.refreshPresence();
  }

  _mergeConversation(item) {
    const known = this.convs.get(item.id);
    const conv = { ...(known || {}), ...item };
    if (known && known.last_seq > item.last_seq) {
      conv.last_seq = known.last_seq;
      conv.last_message = known.last_message;
      conv.last_ts = known.last_ts;
    }
    if (item.peer) this.users.set(item.peer.id, item.peer);
    this.convs.set(item.id, conv);
    return conv;
  }

  /** Add or refresh one conversation the server just handed us (direct open, group create). */
  adoptConversation(item) {
    const conv = this._mergeConversation(item);
    this.emit("convs");
    this.refreshPresence();
    return conv;
  }

  _forget(id) {
    this.convs.delete(id);
    this.timelines.delete(id);
    this.typing.delete(id);
    if (this.activeConv === id) this.emit("removed", id);
  }

  removeConversation(id) {
    this._forget(id);
    this.emit("convs");
  }

  sortedConversations() {
    return Array.from(this.convs.values()).sort((a, b) => {
      if (!!a.pinned !== !!b.pinned) return a.pinned ? -1 : 1;
      return this.activityOf(b) - this.activityOf(a);
    });
  }

  activityOf(conv) {
    const pending = this.outbox.filter((i) => i.conv === conv.id);
    const local = pending.length ? pending[pending.length - 1].ts : 0;
    return Math.max(conv.last_ts || 0, conv.last_message ? conv.last_message.ts : 0, local);
  }

  totalUnread() {
    let total = 0;
    for (const conv of this.convs.values()) if (!conv.muted) total += conv.unread || 0;
    return total;
  }

  async updateSettings(convId, settings) {
    const item = await this.api.patch(`/conversations/${encodeURIComponent(convId)}`, settings);
    this.adoptConversation(item);
  }

  async openDirect(userId) {
    const item = await this.api.post("/conversations/direct", { user_id: userId });
    return this.adoptConversation(item);
  }

  // --- sync

  async _sync() {
    // This tab's own cursor once it has one: another tab advancing the stored cursor must
    // not make this tab skip changes its loaded timelines have not seen.
    let cursor = this.cursor || localStorage.getItem(this._keys.cursor) || undefined;
    const changed = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const reply = await this.socket.request(cursor ? { t: "sync", cursor } : { t: "sync" });
      changed.push(...reply.convs);
      cursor = reply.cursor;
      if (!reply.more) break;
    }
    let stale = false;
    for (const entry of changed) {
      const conv = this.convs.get(entry.conv);
      if (entry.removed) {
        if (conv) this._forget(entry.conv);
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
      if (this.timelines.get(entry.conv)?.loaded) pulls.push(this.pullAfter(entry.conv));
      if (entry.unread > 0 && entry.last_seq > 0) this.socket.send({ t: "recv", conv: entry.conv, seq: entry.last_seq });
    }
    await Promise.all(pulls);
    if (cursor) {
      this.cursor = cursor;
      localStorage.setItem(this._keys.cursor, cursor);
    }
  }

  /** Fetch everything after the highest contiguous seq, page by page. */
  pullAfter(convId) {
    const timeline = this.timelines.get(convId);
    if (!timeline || !timeline.loaded) return Promise.resolve();
    timeline.chain = timeline.chain
      .then(async () => {
        for (let page = 0; page < MAX_PAGES; page++) {
          const reply = await this.socket.request({ t: "pull", conv: convId, after: timeline.hi, limit: 100 });
          const fresh = timeline.extend(reply.items);
          this._afterIncoming(convId, fresh, this.synced);
          if (!reply.more || reply.items.length === 0) break;
        }
        this.emit("timeline", convId);
      })
      .catch(() => {});
    return timeline.chain;
  }

  // --- timelines

  timeline(convId) {
    let timeline = this.timelines.get(convId);
    if (!timeline) {
      timeline = new Timeline(convId);
      this.timelines.set(convId, timeline);
    }
    return timeline;
  }

  async loadLatest(convId) {
    const timeline = this.timeline(convId);
    const conv = this.convs.get(convId);
    const data = await this.api.get(`/conversations/${encodeURIComponent(convId)}/messages?limit=${PAGE}`);
    timeline.reset(data.items, data.more, conv ? conv.last_seq : 0);
    this._afterIncoming(convId, data.items, false);
    this.emit("timeline", convId);
    if (conv && conv.last_seq > timeline.hi && this.socket.online) await this.pullAfter(convId);
  }

  async loadOlder(convId) {
    const timeline = this.timeline(convId);
    if (!timeline.loaded || !timeline.hasOlder || timeline.loadingOlder || timeline.lo === null) return false;
    timeline.loadingOlder = true;
    try {
      const path = `/conversations/${encodeURIComponent(convId)}/messages?before=${timeline.lo}&limit=${PAGE}`;
      const data = await this.api.get(path);
      timeline.prepend(data.items, data.more);
      this._learnSenders(data.items);
      this.emit("timeline", convId);
      return true;
    } finally {
      timeline.loadingOlder = false;
    }
  }

  setActive(convId) {
    this.activeConv = convId;
    this.viewing = false;
  }

  // --- incoming frames

  _onFrame(frame) {
    switch (frame.t) {
      case "msg":
        return this._onMsg(frame);
      case "ack":
        return this._onAck(frame);
      case "receipt":
        return this._onReceipt(frame);
      case "typing":
        return this._onTyping(frame);
      case "presence":
        this.presence.set(frame.user, { online: frame.online, last_seen: frame.last_seen });
        return this.emit("presence", frame.user);
      case "error":
        if (frame.cid) return this._onSendError(frame);
        return undefined;
      default:
        return undefined;
    }
  }

  _onMsg(frame) {
    const { t, ...message } = frame;
    const conv = this.convs.get(message.conv);
    if (!conv) {
      // A conversation we have not seen yet (a new direct chat, an invitation): list it.
      this.loadConversations().then(() => this._afterIncoming(message.conv, [message], true), () => {});
      return;
    }
    const timeline = this.timelines.get(message.conv);
    let fresh = true;
    if (timeline && timeline.loaded) {
      const result = timeline.push(message);
      fresh = result.fresh;
      if (result.gap) this.pullAfter(message.conv);
      this.emit("timeline", message.conv);
    }
    if (fresh) this._afterIncoming(message.conv, [message], true);
  }

  /** Bookkeeping for messages that were new to us, however they arrived. */
  _afterIncoming(convId, messages, live) {
    if (!messages.length) return;
    const conv = this.convs.get(convId);
    this._learnSenders(messages);
    let changed = false;
    let newest = 0;
    let peersRead = false;
    for (const message of messages) {
      this._settleOutbox(message);
      if (!conv) continue;
      if (message.from !== this.me.id && message.kind !== "system") peersRead = this._peerRead(convId, message.from, message.seq) || peersRead;
      newest = Math.max(newest, message.seq);
      changed = this._summarize(conv, message, live) || changed;
      if (live && message.from !== this.me.id && !HIDDEN_KINDS.has(message.kind)) this._notifyIncoming(message);
    }
    if (conv && newest && messages.some((m) => m.from !== this.me.id)) this._scheduleRecv(convId, newest);
    if (changed) this.emit("convs");
    if (peersRead) {
      this._saveMarks();
      this.emit("receipts", convId);
    }
    if (this.activeConv === convId && this.viewing) this.markRead(convId);
  }

  /** Sending advances the sender's read watermark (CONTRACT §3), so a reply is also a read receipt. */
  _peerRead(convId, userId, seq) {
    const mark = ((this.marks[convId] ||= {})[userId] ||= { read: 0, recv: 0 });
    if (mark.read >= seq) return false;
    mark.read = seq;
    mark.recv = Math.max(mark.recv, seq);
    mark.at = Date.now();
    return true;
  }

  _summarize(conv, message, live) {
    if (message.seq <= (conv.last_message ? conv.last_message.seq : 0)) return false;
    if (message.kind === "edit" && conv.last_message && conv.last_message.seq === message.body.seq) {
      conv.last_message = { ...conv.last_message, body: { ...conv.last_message.body, text: message.body.text } };
    } else if (message.kind !== "edit") {
      conv.last_message = message;
    }
    const wasNew = message.seq > (conv.last_seq || 0);
    conv.last_seq = Math.max(conv.last_seq || 0, message.seq);
    conv.last_ts = Math.max(conv.last_ts || 0, message.ts);
    if (message.from === this.me.id) {
      conv.read_seq = Math.max(conv.read_seq || 0, message.seq);
      conv.unread = 0;
      conv.mentioned = false;
    } else if (live && wasNew && !HIDDEN_KINDS.has(message.kind)) {
      if (!(this.activeConv === conv.id && this.viewing)) {
        conv.unread = (conv.unread || 0) + 1;
        if (this.mentionsMe(message)) conv.mentioned = true;
      }
    }
    return true;
  }

  mentionsMe(message) {
    const mentions = message.mentions || [];
    return mentions.includes(this.me.id) || mentions.includes("@all");
  }

  _notifyIncoming(message) {
    const conv = this.convs.get(message.conv);
    if (!conv || conv.muted) return;
    this.emit("incoming", { conv, message });
  }

  _scheduleRecv(convId, seq) {
    const timer = this._recvTimers.get(convId);
    if (timer && timer.seq >= seq) return;
    if (timer) clearTimeout(timer.id);
    const id = setTimeout(() => {
      this._recvTimers.delete(convId);
      this.socket.send({ t: "recv", conv: convId, seq });
    }, 150);
    this._recvTimers.set(convId, { id, seq });
  }

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
      if (seq > 0) this.socket.send({ t: "read", conv: convId, seq });
      this.emit("convs");
    }
  }

  _onReceipt(frame) {
    const conv = this.convs.get(frame.conv);
    if (frame.user === this.me.id) {
      if (!conv) return;
      if (frame.read !== undefined && frame.read > (conv.read_seq || 0)) {
        conv.read_seq = frame.read;
        if (frame.read >= conv.last_seq) {
          conv.unread = 0;
          conv.mentioned = false;
        }
        this.emit("convs");
      }
      return;
    }
    const perConv = (this.marks[frame.conv] ||= {});
    const mark = (perConv[frame.user] ||= { read: 0, recv: 0 });
    if (frame.read !== undefined) mark.read = Math.max(mark.read, frame.read);
    if (frame.recv !== undefined) mark.recv = Math.max(mark.recv, frame.recv);
    mark.recv = Math.max(mark.recv, mark.read);
    mark.at = Date.now();
    this._saveMarks();
    this.emit("receipts", frame.conv);
  }

  _saveMarks() {
    const entries = Object.entries(this.marks);
    if (entries.length > MARKS_KEPT) {
      const newest = (perConv) => Math.max(...Object.values(perConv).map((m) => m.at || 0));
      entries.sort((a, b) => newest(b[1]) - newest(a[1]));
      this.marks = Object.fromEntries(entries.slice(0, MARKS_KEPT));
    }
    localStorage.setItem(this._keys.marks, JSON.stringify(this.marks));
  }

  /** "read" when another member read it, "delivered" when a device of theirs has it. */
  tickFor(convId, seq) {
    let state = "sent";
    for (const [user, mark] of Object.entries(this.marks[convId] || {})) {
      if (user === this.me.id) continue;
      if (mark.read >= seq) return "read";
      if (mark.recv >= seq) state = "delivered";
    }
    return state;
  }

  // --- typing

  _onTyping(frame) {
    if (frame.user === this.me.id) return;
    const typers = this.typing.get(frame.conv) || new Map();
    if (frame.on) typers.set(frame.user, Date.now() + TYPING_TTL_MS);
    else typers.delete(frame.user);
    this.typing.set(frame.conv, typers);
    this.getUser(frame.user);
    this.emit("typing", frame.conv);
  }

  _sweepTyping() {
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

  typers(convId) {
    return Array.from((this.typing.get(convId) || new Map()).keys());
  }

  /** Tell the others we are typing — at most every few seconds, and once when we stop. */
  setTyping(convId, on) {
    const last = this._typingSent.get(convId) || 0;
    const now = Date.now();
    if (on && now - last < TYPING_RESEND_MS) return;
    if (!on && !last) return;
    this._typingSent.set(convId, on ? now : 0);
    this.socket.send({ t: "typing", conv: convId, on });
  }

  // --- users and presence

  userName(userId) {
    if (userId === this.me.id) return this.me.display_name || this.me.username;
    const user = this.users.get(userId);
    if (!user) {
      this.getUser(userId);
      return "…";
    }
    return user.display_name || user.username;
  }

  getUser(userId) {
    if (this.users.has(userId)) return Promise.resolve(this.users.get(userId));
    if (this._userFetches.has(userId)) return this._userFetches.get(userId);
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

  rememberUsers(users) {
    for (const user of users) if (user && user.id) this.users.set(user.id, user);
  }

  _learnSenders(messages) {
    for (const message of messages) if (!this.users.has(message.from)) this.getUser(message.from);
  }

  async refreshPresence(userIds) {
    if (!this.has("presence")) return;
    const ids = userIds || Array.from(this.convs.values()).filter((c) => c.peer).map((c) => c.peer.id);
    for (let i = 0; i < ids.length; i += 50) {
      const chunk = ids.slice(i, i + 50);
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

Object.assign(Client.prototype, outboxMethods);
