// One open conversation: header, the message log (grouped by sender and day, a window of
// at most WINDOW_ROWS messages over the loaded history, infinite scroll upwards) and the
// composer. How each message looks is in messagerow.js.

import { h, clear, avatar, reconcile, sameDay, fill } from "../dom.js";
import { t, formatDay, formatAgo, errorText } from "../i18n.js";
import { icon } from "../icons.js";
import { Composer } from "./composer.js";
import { toast } from "./dialogs.js";
import { convTitle, typingText, previewText } from "./preview.js";
import { messageRowMethods } from "./messagerow.js";
import { reactionMethods } from "./reactions.js";
import { NOTICE_KINDS } from "../sdk/core/marks.js";

const GROUP_GAP_MS = 5 * 60_000;
const NEAR_TOP_PX = 400;
const NEAR_BOTTOM_PX = 48;
// Opening a search result loads at most this many older pages to reach it (50 messages each).
const MAX_REVEAL_PAGES = 40;
// The log keeps at most this many messages in the DOM, so a long history scrolls as smoothly
// as a short one; scrolling near either edge of the window moves it by WINDOW_STEP.
export const WINDOW_ROWS = 240;
const WINDOW_STEP = 80;
// System notices after which the member count in the header is out of date.
const MEMBERSHIP_EVENTS = new Set(["member_added", "member_removed", "member_banned", "member_joined", "member_left"]);

export class ChatView {
  constructor(ctx, convId) {
    this.ctx = ctx;
    this.client = ctx.client;
    this.convId = convId;
    this.rows = new Map();
    this.uploads = [];
    this.members = new Map();
    this.myRole = null;
    this.stickToBottom = true;
    this.loadError = "";
    this.winEndKey = null; // key of the last message in the window; null: the window follows the end
    this.winStart = 0;
    this.winEnd = 0;
    const conv = this.conv;
    this.firstUnread = conv && conv.unread > 0 ? (conv.read_seq || 0) + 1 : null;
    this.el = h("section.chat", { "aria-label": conv ? convTitle(this.client, conv) : "" });
    this._scheduled = false;
    const on = (event, fn) => this.client.on(event, fn);
    this.unsubs = [
      on("timeline", (id) => (id === this.convId || id === undefined) && this.schedule()),
      on("receipts", (id) => id === this.convId && this.schedule()),
      on("typing", (id) => id === this.convId && this._drawTyping()),
      on("users", () => this.schedule(true)),
      on("presence", () => this._drawHeader()),
      on("convs", () => this._drawHeader()),
      on("message", (m) => m.conv === this.convId && m.kind === "system" && MEMBERSHIP_EVENTS.has((m.body || {}).event) && this._membersChanged()),
      on("state", () => this._drawBanner()),
      on("pins", (id) => id === this.convId && (this._drawPins(), this.schedule())),
    ];
    this._onVisibility = () => this._updateViewing();
    document.addEventListener("visibilitychange", this._onVisibility);
    this._build();
    this.loading = this._load();
    this._loadPins();
    if (conv && conv.kind !== "direct" && this.client.has("groups")) this.loadMembers();
  }

  get conv() {
    return this.client.convs.get(this.convId);
  }

  destroy() {
    for (const off of this.unsubs) off();
    document.removeEventListener("visibilitychange", this._onVisibility);
    this.composer.destroy();
    this._closePicker();
    this.client.viewing = false;
  }

  schedule(withHeader = false) {
    if (withHeader) this._headerDirty = true;
    if (this._scheduled) return;
    this._scheduled = true;
    requestAnimationFrame(() => {
      this._scheduled = false;
      if (this._headerDirty) {
        this._headerDirty = false;
        this._drawHeader();
      }
      this.renderMessages();
    });
  }

  // --- layout

  _build() {
    this.headEl = h("header.chat-head");
    this.bannerEl = h("div.conn-banner", { role: "status", "aria-live": "polite" });
    this.pinsEl = h("div.pinned-bar", { hidden: true, role: "region", "aria-label": t("pinned_messages") });
    this.inner = h("div.msgs-inner");
    this.scroller = h(
      "div.messages",
      { role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0", "aria-label": t("messages"), onscroll: () => this._onScroll() },
      this.inner,
    );
    this.jumpEl = h(
      "button.jump",
      { type: "button", hidden: true, "aria-label": t("jump_latest"), title: t("jump_latest"), onclick: () => this.scrollToBottom(true) },
      icon("arrowDown"),
    );
    this.typingEl = h("div.typing-line", { "aria-live": "polite" });
    this.composer = new Composer(this);
    fill(this.el, 
      this.headEl,
      this.bannerEl,
      this.pinsEl,
      h("div.log-wrap", null, this.scroller, this.jumpEl),
      this.typingEl,
      this.composer.el,
    );
    this._drawHeader();
    this._drawBanner();
    this._drawTyping();
  }

  async _load() {
    const timeline = this.client.timeline(this.convId);
    this.renderMessages();
    if (!timeline.loaded) {
      try {
        await this.client.loadLatest(this.convId);
        this.loadError = "";
      } catch (error) {
        this.loadError = errorText(error);
      }
    } else if (this.client.online) {
      this.client.pullAfter(this.convId);
    }
    this.renderMessages();
    this.scrollToBottom();
    this._updateViewing();
  }

  async loadMembers() {
    try {
      let cursor = null;
      for (let page = 0; page < 10; page++) {
        const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
        const data = await this.client.api.get(`/groups/${encodeURIComponent(this.convId)}/members${query}`);
        for (const member of data.items) {
          this.members.set(member.user.id, member);
          this.client.rememberUsers([member.user]);
        }
        cursor = data.cursor;
        if (!data.more || !cursor) break;
      }
      const mine = this.members.get(this.client.me.id);
      this.myRole = mine ? mine.role : null;
      this.schedule(true);
      this.composer.refresh();
    } catch {
      // Members are a nicety here (names, mentions); the chat works without them.
    }
  }

  /** Someone joined or left: the header's count and the member list come from the server again. */
  async _membersChanged() {
    try {
      const group = await this.client.api.get(`/groups/${encodeURIComponent(this.convId)}`);
      const conv = this.conv;
      if (conv && typeof group.member_count === "number") conv.member_count = group.member_count;
      this._drawHeader();
    } catch {
      // The next list reload corrects it.
    }
    this.loadMembers();
  }

  /** Rows drawn as a centred notice: server notices, pin and unpin entries. */
  _isNotice(m) {
    return m.kind === "system" || NOTICE_KINDS.has(m.kind);
  }

  isAdmin() {
    return this.myRole === "owner" || this.myRole === "admin";
  }

  // --- header, banner, typing

  _drawHeader() {
    const conv = this.conv;
    if (!conv) return;
    const client = this.client;
    const title = convTitle(client, conv);
    const presence = conv.peer ? client.presence.get(conv.peer.id) : null;
    let sub = "";
    if (conv.kind === "direct") {
      if (presence) sub = presence.online ? t("online") : presence.last_seen ? t("last_seen", { when: formatAgo(presence.last_seen) }) : t("offline_status");
      else if (conv.peer) sub = `@${conv.peer.username}`;
    } else {
      sub = t("members_count", { n: conv.member_count || this.members.size || 0 });
    }
    const openInfo = () => (conv.kind === "direct" ? this.ctx.openProfile(conv.peer ? conv.peer.id : null, conv) : this.ctx.openGroupInfo(conv.id, this));
    this.el.setAttribute("aria-label", title);
    fill(this.headEl, 
      h("button.icon-btn.back", { type: "button", "aria-label": t("back"), onclick: () => this.ctx.closeConv() }, icon("back")),
      h(
        "button.chat-id",
        { type: "button", onclick: openInfo, "aria-label": `${title} — ${conv.kind === "direct" ? t("view_profile") : t("info")}` },
        avatar(title, conv.peer ? conv.peer.id : conv.id, conv.avatar, { online: presence ? !!presence.online : null }),
        h("span.chat-title", null, h("h2", null, title), (this.subEl = h(`span.chat-sub${presence && presence.online ? ".online" : ""}`, null, sub))),
      ),
      h(
        "div.chat-actions",
        null,
        h(
          "button.icon-btn",
          {
            type: "button",
            "aria-pressed": String(!!conv.pinned),
            "aria-label": conv.pinned ? t("unpin") : t("pin"),
            title: conv.pinned ? t("unpin") : t("pin"),
            class: conv.pinned ? "on" : "",
            onclick: () => this._toggle("pinned"),
          },
          icon("pin"),
        ),
        h(
          "button.icon-btn",
          {
            type: "button",
            "aria-pressed": String(!!conv.muted),
            "aria-label": conv.muted ? t("unmute") : t("mute"),
            title: conv.muted ? t("unmute") : t("mute"),
            class: conv.muted ? "on" : "",
            onclick: () => this._toggle("muted"),
          },
          icon(conv.muted ? "bellOff" : "bell"),
        ),
        h("button.icon-btn", { type: "button", "aria-label": t("info"), title: t("info"), onclick: openInfo }, icon("info")),
      ),
    );
    this._drawTyping();
  }

  async _toggle(setting) {
    const conv = this.conv;
    try {
      await this.client.updateSettings(this.convId, { [setting]: !conv[setting] });
    } catch (error) {
      toast(t("something_wrong", { msg: errorText(error) }), "error");
    }
  }

  _drawBanner() {
    // Connecting and syncing are brief and shown in the sidebar; a banner is for trouble.
    const state = this.client.connState;
    const show = state === "reconnecting" || state === "offline" || state === "idle" || state === "displaced";
    this.bannerEl.hidden = !show;
    if (!show) return;
    const text = {
      connecting: t("state_connecting"),
      syncing: t("state_syncing"),
      reconnecting: t("state_reconnecting"),
      offline: t("state_offline"),
      idle: t("state_offline"),
      displaced: t("state_displaced"),
    }[state];
    fill(this.bannerEl, 
      state === "offline" || state === "reconnecting" ? icon("wifiOff", { size: 16 }) : h("span.spinner", { "aria-hidden": "true" }),
      h("span", null, text),
      state === "reconnecting" ? h("button.link", { type: "button", onclick: () => this.client.connectNow() }, t("retry_now")) : null,
      // Displaced by a newer socket of this account: reconnect only when the user asks.
      state === "displaced" ? h("button.link", { type: "button", onclick: () => this.client.connect() }, t("use_here")) : null,
    );
    this.bannerEl.dataset.state = state;
  }

  _drawTyping() {
    const text = typingText(this.client, this.convId);
    if (text) {
      fill(this.typingEl, h("span.dots", { "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", null, text));
    } else {
      clear(this.typingEl);
    }
    this.typingEl.classList.toggle("on", !!text);
  }

  // --- scrolling

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom(smooth = false) {
    if (this.winEndKey !== null) {
      this.winEndKey = null;
      this.stickToBottom = true;
      this.renderMessages();
    }
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? "smooth" : "auto" });
    this.stickToBottom = true;
    this._updateViewing();
  }

  _onScroll() {
    this.stickToBottom = this.atBottom() && this.winEndKey === null;
    this._updateViewing();
    this._edges();
  }

  /** Near an edge of the window: move it, or load older pages once it reached the oldest loaded. */
  _edges() {
    const s = this.scroller;
    if (s.scrollTop < NEAR_TOP_PX) {
      if (this.winStart > 0) this._shiftWindow(-WINDOW_STEP);
      else this._loadOlder();
    } else if (this.winEndKey !== null && s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_TOP_PX) {
      this._shiftWindow(WINDOW_STEP);
    }
  }

  /** Move the window by `step` messages (negative: older), keeping the rows on screen in place. */
  _shiftWindow(step) {
    if (this._shifting) return;
    const keys = this._items().map((item) => item.key);
    const current = this._windowEnd(keys);
    const end = Math.min(keys.length, Math.max(Math.min(WINDOW_ROWS, keys.length), current + step));
    if (end === current) return;
    this.winEndKey = end >= keys.length ? null : keys[end - 1];
    this.stickToBottom = false;
    this._shifting = true;
    // After this frame's layout, so the anchor is measured where the reader sees it.
    requestAnimationFrame(() => {
      this._shifting = false;
      this.renderMessages();
    });
  }

  _updateViewing() {
    const viewing = this.stickToBottom && document.visibilityState === "visible" && this.client.activeConv === this.convId;
    this.client.viewing = viewing;
    this.jumpEl.hidden = this.stickToBottom;
    if (viewing) this.client.markRead(this.convId);
  }

  async _loadOlder() {
    const timeline = this.client.timeline(this.convId);
    if (!timeline.loaded || !timeline.hasOlder || timeline.loadingOlder) return;
    if (this.winEndKey === null) this.winEndKey = this._lastKey(); // older rows come in at the top
    try {
      if (await this.client.loadOlder(this.convId)) this._shiftWindow(-WINDOW_STEP);
    } catch {
      // Scrolling up again retries.
    }
  }

  _lastKey() {
    const items = this._items();
    return items.length ? items[items.length - 1].key : null;
  }

  /** Load older pages until `seq` is in the log (bounded), then scroll to it. */
  async revealSeq(seq) {
    await this.loading;
    const timeline = this.client.timeline(this.convId);
    for (let page = 0; page < MAX_REVEAL_PAGES && timeline.loaded && timeline.lo !== null && timeline.lo > seq && timeline.hasOlder; page++) {
      try {
        await this.client.loadOlder(this.convId);
      } catch {
        break;
      }
    }
    this.stickToBottom = false;
    this._windowAround(`s${seq}`);
    this.renderMessages();
    // After renders already scheduled by the loads, and instantly: a smooth scroll
    // would be cut short when a later render keeps its anchor row in place.
    await new Promise((resolve) => requestAnimationFrame(resolve));
    this.scrollToSeq(seq, false);
  }

  /** Index after the window's last message: its key's place now (older pages shift indexes). */
  _windowEnd(keys) {
    if (this.winEndKey === null) return keys.length;
    const at = keys.indexOf(this.winEndKey);
    return at < 0 ? keys.length : at + 1;
  }

  /** Put the message with `key` in the middle of the window. */
  _windowAround(key) {
    const keys = this._items().map((item) => item.key);
    const at = keys.indexOf(key);
    if (at < 0) return;
    const end = Math.min(keys.length, Math.max(at + WINDOW_ROWS / 2, Math.min(WINDOW_ROWS, keys.length)));
    this.winEndKey = end >= keys.length ? null : keys[end - 1];
  }

  scrollToSeq(seq, smooth = true) {
    if (!this.inner.querySelector(`[data-seq="${seq}"]`)) {
      this._windowAround(`s${seq}`);
      this.renderMessages();
    }
    const node = this.inner.querySelector(`[data-seq="${seq}"]`);
    if (!node) return;
    node.scrollIntoView({ block: "center", behavior: smooth ? "smooth" : "auto" });
    node.classList.add("flash");
    setTimeout(() => node.classList.remove("flash"), 1_500);
    const bubble = node.querySelector(".bubble");
    if (bubble) bubble.focus({ preventScroll: true });
  }

  // --- the message log

  _items() {
    const client = this.client;
    const timeline = client.timeline(this.convId);
    const items = timeline.visible().map((m) => ({ type: "msg", m, from: m.from, ts: m.ts, key: `s${m.seq}` }));
    for (const item of client.pendingFor(this.convId)) {
      items.push({ type: "pending", m: { ...item, from: client.me.id }, from: client.me.id, ts: item.ts, key: `p${item.cid}` });
    }
    for (const upload of this.uploads) {
      items.push({ type: "upload", m: upload, from: client.me.id, ts: upload.ts, key: `u${upload.id}` });
    }
    return items;
  }

  renderMessages() {
    const timeline = this.client.timeline(this.convId);
    const wasBottom = this.stickToBottom;
    if (wasBottom) this.winEndKey = null;
    const anchor = wasBottom ? null : this._anchor();
    const items = this._items();
    const end = this._windowEnd(items.map((item) => item.key));
    const start = Math.max(0, end - WINDOW_ROWS);
    this.winStart = start;
    this.winEnd = end;
    const nodes = [];
    if (!timeline.loaded) {
      nodes.push(this._cached("top", this.loadError || t("loading"), () => h("div.log-note", null, this.loadError || t("loading"))));
    } else if (timeline.hasOlder || start > 0) {
      nodes.push(this._cached("top-more", t("loading"), () => h("div.log-note.older", null, h("span.spinner", { "aria-hidden": "true" }), t("loading"))));
    } else {
      // Retention may have removed the start: say so rather than call this the beginning.
      const note = timeline.firstSeq ? t("older_removed") : t("beginning");
      nodes.push(this._cached("top-begin", note, () => h("div.log-note.top-begin", null, note)));
    }
    for (let i = start; i < end; i++) {
      const item = items[i];
      // Neighbours outside the window still decide grouping, so a row keeps its node as the window moves.
      const prev = items[i - 1];
      const next = items[i + 1];
      if (!prev || !sameDay(prev.ts, item.ts)) {
        const label = formatDay(item.ts);
        nodes.push(this._cached(`day${new Date(item.ts).toDateString()}`, label, () => h("div.day-sep", { role: "separator" }, h("span", null, label))));
      }
      const everythingNew = i === 0 && !timeline.hasOlder;
      if (item.type === "msg" && item.m.seq === this.firstUnread && item.from !== this.client.me.id && !everythingNew) {
        nodes.push(this._cached("unread-sep", t("new_messages"), () => h("div.unread-sep", { role: "separator" }, h("span", null, t("new_messages")))));
      }
      const first = !prev || !this._sameGroup(prev, item);
      const last = !next || !this._sameGroup(item, next);
      nodes.push(this._row(item, first, last));
    }
    if (end < items.length) {
      nodes.push(this._cached("bottom-more", t("loading"), () => h("div.log-note.newer", null, h("span.spinner", { "aria-hidden": "true" }), t("loading"))));
    }
    reconcile(this.inner, nodes);
    this._pruneCache(nodes);
    if (wasBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
    else if (anchor) {
      // The same message, even if its node was rebuilt (a tick or its grouping changed).
      const node = anchor.node.isConnected ? anchor.node : this.inner.querySelector(anchor.selector);
      if (node) this.scroller.scrollTop += node.getBoundingClientRect().top - anchor.top;
    }
    if (timeline.loaded) this._edges();
  }

  /** Rows far outside the window are dropped from the cache too, so memory stays bounded. */
  _pruneCache(nodes) {
    if (this.rows.size <= 3 * WINDOW_ROWS) return;
    const shown = new Set(nodes);
    for (const [key, entry] of this.rows) if (!shown.has(entry.node)) this.rows.delete(key);
  }

  /** The first row on screen, so its position survives older messages landing above. */
  _anchor() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const node of this.inner.children) {
      if (!node.dataset.seq && !node.dataset.cid) continue; // notes and separators move with the window
      const rect = node.getBoundingClientRect();
      const selector = node.dataset.seq ? `[data-seq="${node.dataset.seq}"]` : `[data-cid="${CSS.escape(node.dataset.cid)}"]`;
      if (rect.bottom > top) return { node, selector, top: rect.top };
    }
    return null;
  }

  _sameGroup(a, b) {
    if (this._isNotice(a.m) || this._isNotice(b.m)) return false;
    return a.from === b.from && sameDay(a.ts, b.ts) && Math.abs(b.ts - a.ts) < GROUP_GAP_MS;
  }

  _cached(key, sig, build) {
    const known = this.rows.get(key);
    if (known && known.sig === sig) return known.node;
    const node = build();
    this.rows.set(key, { sig, node });
    return node;
  }

  _row(item, first, last) {
    const client = this.client;
    const m = item.m;
    if (this._isNotice(m)) {
      const text = previewText(client, m);
      return this._cached(item.key, `sys${text}`, () => this._systemRow(m));
    }
    const conv = this.conv;
    const own = item.from === client.me.id;
    const tick = item.type === "msg" && own ? client.tickFor(this.convId, m.seq) : "";
    const quoted = m.reply_to ? client.timeline(this.convId).get(m.reply_to) : null;
    const sig = JSON.stringify([
      item.type, m.seq, m.body, m.recalled, m.edited_at, m.reactions, client.pinsOf(this.convId).some((p) => p.seq === m.seq), m.state, m.progress, m.error, tick, first, last,
      client.userName(item.from), quoted ? [quoted.body, quoted.recalled] : null, this.myRole, conv && conv.kind,
    ]);
    return this._cached(item.key, sig, () => this._bubbleRow(item, first, last, tick, quoted));
  }

  // --- uploads (driven by the composer)

  addUpload(upload) {
    this.uploads.push(upload);
    this.stickToBottom = true;
    this.schedule();
  }

  updateUpload(upload) {
    this.schedule();
    if (upload.done) {
      this.uploads = this.uploads.filter((u) => u !== upload);
      if (upload.url) setTimeout(() => URL.revokeObjectURL(upload.url), 60_000);
    }
  }
}

Object.assign(ChatView.prototype, messageRowMethods, reactionMethods);
