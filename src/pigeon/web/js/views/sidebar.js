// The left column: who I am, connection state, search, tabs, and the conversation list.

import { h, clear, avatar, debounce, reconcile, fill } from "../dom.js";
import { t, formatListTime, errorText } from "../i18n.js";
import { renderSnippet } from "./snippet.js";
import { icon } from "../icons.js";
import { themeButton } from "./prefs.js";
import { previewText, convTitle, typingText } from "./preview.js";
import { renderContacts } from "./friends.js";
import { renderRooms } from "./groups.js";

export class Sidebar {
  constructor(ctx) {
    this.ctx = ctx;
    this.client = ctx.client;
    this.tab = "chats";
    this.requests = 0; // incoming friend requests waiting for an answer
    this.query = "";
    this.people = [];
    this.peopleQuery = "";
    this.found = null; // message search: {query, items, cursor, more, error}
    this.rows = new Map();
    this.el = h("aside.sidebar", { "aria-label": t("chats") });
    this._scheduled = false;
    this._search = debounce(() => {
      this._searchPeople();
      this._searchMessages();
    }, 250);
    const redraw = () => this.schedule();
    for (const event of ["convs", "typing", "presence", "users", "state", "timeline"]) this.client.on(event, redraw);
    this.render();
  }

  schedule() {
    if (this._scheduled) return;
    this._scheduled = true;
    requestAnimationFrame(() => {
      this._scheduled = false;
      this.update();
    });
  }

  /** Full rebuild: after a language change or a tab switch. */
  render() {
    const me = this.client.me;
    this.connEl = h("span.conn", { role: "status", "aria-live": "polite" });
    this.searchInput = h("input.search-input", {
      type: "search",
      placeholder: t("search_placeholder"),
      "aria-label": t("search_placeholder"),
      value: this.query,
      oninput: (event) => {
        this.query = event.target.value;
        this.update();
        this._search();
      },
      onkeydown: (event) => {
        if (event.key === "Escape") {
          this.query = "";
          event.target.value = "";
          this.update();
        }
      },
    });
    const tabs = [["chats", t("chats"), "chat"]];
    if (this.client.has("friends")) tabs.push(["contacts", t("contacts"), "users"]);
    if (this.client.has("groups")) tabs.push(["rooms", t("rooms"), "globe"]);
    this.listEl = h("ul.conv-list", { role: "list", "aria-label": t("chats") });
    this.body = h("div.side-body", tabs.length > 1 ? { id: "side-panel", role: "tabpanel", "aria-labelledby": `tab-${this.tab}` } : null);
    fill(this.el, 
      h(
        "header.side-head",
        null,
        h(
          "button.me",
          { type: "button", "aria-label": `${t("settings")}: ${me.display_name || me.username}`, onclick: () => this.ctx.openSettings() },
          avatar(me.display_name || me.username, me.id, me.avatar),
          h("span.me-text", null, h("span.me-name", null, me.display_name || me.username), this.connEl),
        ),
        h(
          "div.head-actions",
          null,
          this.client.has("groups")
            ? h("button.icon-btn", { type: "button", "aria-label": t("new_group"), title: t("new_group"), onclick: () => this.ctx.newGroup() }, icon("plus"))
            : null,
          themeButton(),
          h("button.icon-btn", { type: "button", "aria-label": t("settings"), title: t("settings"), onclick: () => this.ctx.openSettings() }, icon("gear")),
        ),
      ),
      h("div.search", null, icon("search", { size: 18, cls: "search-icon" }), this.searchInput),
      tabs.length > 1
        ? h(
            "nav.tabs",
            { role: "tablist", "aria-label": t("chats") },
            tabs.map(([id, label, glyph]) =>
              h(
                "button.tab",
                {
                  type: "button",
                  role: "tab",
                  id: `tab-${id}`,
                  "aria-selected": String(this.tab === id),
                  "aria-controls": "side-panel",
                  onclick: () => this.showTab(id),
                },
                icon(glyph, { size: 18 }),
                h("span", null, label),
                id === "contacts" ? (this.requestBadge = h("span.badge.tab-badge", { hidden: true })) : null,
              ),
            ),
          )
        : null,
      this.body,
    );
    this.rows.clear();
    this.update(true);
    this.setRequests(this.requests);
  }

  showTab(id) {
    this.tab = id;
    this.query = "";
    this.render();
  }

  /** The Contacts tab's badge: how many friend requests wait for an answer. */
  setRequests(n) {
    this.requests = n;
    if (!this.requestBadge) return;
    this.requestBadge.hidden = !n;
    this.requestBadge.textContent = n > 99 ? "99+" : String(n);
    const tab = this.requestBadge.parentElement;
    tab.setAttribute("aria-label", n ? `${t("contacts")}, ${t("requests_waiting", { n })}` : t("contacts"));
  }

  update(force = false) {
    this._drawConn();
    const mode = this.tab === "chats" || this.query.trim() ? "list" : this.tab;
    if (force || mode !== this.mode) {
      this.mode = mode;
      if (mode === "list") {
        this.peopleEl = h("div.people");
        this.foundEl = h("div.found");
        fill(this.body, this.listEl, this.peopleEl, this.foundEl);
      } else {
        const pane = h("div.pane");
        fill(this.body, pane);
        if (mode === "contacts") renderContacts(pane, this.ctx);
        else renderRooms(pane, this.ctx);
      }
    }
    if (mode === "list") {
      this._drawList();
      this._drawPeople();
      this._drawFound();
    }
  }

  _drawConn() {
    const state = this.client.connState;
    const labels = {
      connecting: t("state_connecting"),
      syncing: t("state_syncing"),
      online: t("state_online"),
      reconnecting: t("state_reconnecting"),
      offline: t("state_offline"),
      idle: t("state_offline"),
      displaced: t("state_displaced"),
    };
    this.connEl.className = `conn conn-${state}`;
    this.connEl.dataset.state = state;
    this.connEl.textContent = labels[state] || state;
  }

  _drawList() {
    const query = this.query.trim().toLowerCase();
    let convs = this.client.sortedConversations();
    if (query) convs = convs.filter((c) => convTitle(this.client, c).toLowerCase().includes(query) || (c.peer && c.peer.username.toLowerCase().includes(query)));
    const nodes = convs.map((conv) => this._row(conv));
    if (!nodes.length && !query) {
      nodes.push(h("li.empty", null, t("no_chats")));
    }
    reconcile(this.listEl, nodes);
  }

  _row(conv) {
    const client = this.client;
    const active = client.activeConv === conv.id;
    const typing = typingText(client, conv.id, true);
    const presence = conv.peer ? client.presence.get(conv.peer.id) : null;
    const pending = client.pendingFor(conv.id);
    const last = pending.length ? pending[pending.length - 1] : conv.last_message;
    const ownLast = last && (last.from === client.me.id || !last.seq);
    let preview = previewText(client, last);
    // Entries whose preview is a sentence naming who did it get no "name:" in front.
    const sentence = last && ["system", "recall", "react", "pin", "unpin"].includes(last.kind);
    if (last && conv.kind !== "direct" && !ownLast && !sentence) {
      preview = `${client.userName(last.from)}: ${preview}`;
    } else if (ownLast && !sentence) {
      preview = `${t("you")}: ${preview}`;
    }
    const title = convTitle(client, conv);
    const unread = conv.unread || 0;
    const stamp = client.activityOf(conv);
    const sig = JSON.stringify([title, active, typing, presence && presence.online, preview, unread, conv.mentioned, conv.pinned, conv.muted, stamp, !!pending.length, conv.avatar]);
    const cached = this.rows.get(conv.id);
    if (cached && cached.sig === sig) return cached.node;
    const label = [title, unread ? t("unread_count", { n: unread }) : "", conv.pinned ? t("pinned") : "", conv.muted ? t("muted") : ""].filter(Boolean).join(", ");
    const node = h(
      "li",
      null,
      h(
        `button.conv${active ? ".active" : ""}${unread ? ".has-unread" : ""}${conv.muted ? ".is-muted" : ""}`,
        {
          type: "button",
          "aria-label": label,
          "aria-current": active ? "true" : undefined,
          dataset: { conv: conv.id },
          onclick: () => this.ctx.openConv(conv.id),
        },
        avatar(title, conv.peer ? conv.peer.id : conv.id, conv.avatar, { online: presence ? !!presence.online : null }),
        h(
          "span.conv-main",
          null,
          h(
            "span.conv-top",
            null,
            h("span.conv-title", null, conv.kind !== "direct" ? icon("group", { size: 15, cls: "kind-icon" }) : null, title),
            conv.pinned ? icon("pin", { size: 14, cls: "flag", label: t("pinned") }) : null,
            conv.muted ? icon("bellOff", { size: 14, cls: "flag", label: t("muted") }) : null,
            h("time.conv-time", null, formatListTime(stamp)),
          ),
          h(
            "span.conv-bottom",
            null,
            typing
              ? h("span.conv-preview.typing", null, typing)
              : h("span.conv-preview", null, conv.mentioned ? h("span.mention-flag", null, t("mentioned_you")) : null, pending.length ? icon("clock", { size: 13, cls: "pending-icon" }) : null, preview),
            unread ? h(`span.badge${conv.muted ? ".muted" : ""}`, { "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
          ),
        ),
      ),
    );
    this.rows.set(conv.id, { sig, node });
    return node;
  }

  clearSearch() {
    this.query = "";
    this.searchInput.value = "";
    this.people = [];
    this.found = null;
    this.update();
  }

  async _searchPeople() {
    const query = this.query.trim();
    if (!query) {
      this.people = [];
      this.peopleQuery = "";
      this._drawPeople();
      return;
    }
    try {
      const data = await this.client.api.get(`/users?q=${encodeURIComponent(query)}&limit=20`);
      if (this.query.trim() !== query) return;
      this.people = data.items.filter((u) => u.id !== this.client.me.id);
      this.client.rememberUsers(this.people);
      this.peopleQuery = query;
      this.peopleError = "";
    } catch (error) {
      this.people = [];
      this.peopleError = errorText(error);
    }
    this._drawPeople();
  }

  _drawPeople() {
    if (!this.peopleEl) return;
    const query = this.query.trim();
    if (!query) {
      clear(this.peopleEl);
      return;
    }
    fill(this.peopleEl, 
      h("h3.section-title", null, t("search_people")),
      this.peopleError ? h("p.muted-text", null, this.peopleError) : null,
      !this.people.length && this.peopleQuery === query ? h("p.muted-text", null, t("no_results")) : null,
      h("ul.people-list", { role: "list" }, this.people.map((user) => this.ctx.personRow(user))),
    );
  }

  /** Message search (when the server offers it): the first page, or the next one with `older`. */
  async _searchMessages(older = false) {
    const query = this.query.trim();
    if (!query || !this.client.has("search")) {
      this.found = null;
      this._drawFound();
      return;
    }
    const previous = older && this.found && this.found.query === query ? this.found : null;
    try {
      const page = await this.client.searchMessages(query, previous ? { cursor: previous.cursor } : {});
      if (this.query.trim() !== query) return;
      const items = previous ? [...previous.items, ...page.items] : page.items;
      this.found = { query, items, cursor: page.cursor, more: page.more, error: "" };
    } catch (error) {
      if (this.query.trim() !== query) return;
      this.found = { query, items: [], cursor: null, more: false, error: errorText(error) };
    }
    this._drawFound();
  }

  _drawFound() {
    if (!this.foundEl) return;
    const found = this.found;
    if (!found || found.query !== this.query.trim()) {
      clear(this.foundEl);
      return;
    }
    fill(this.foundEl,
      h("h3.section-title", null, t("search_messages")),
      found.error ? h("p.muted-text", null, found.error) : null,
      !found.items.length && !found.more && !found.error ? h("p.muted-text", null, t("no_messages_found")) : null,
      h("ul.found-list", { role: "list" }, found.items.map((item) => this._foundRow(item))),
      found.more
        ? h("button.link-btn.found-more", { type: "button", onclick: () => this._searchMessages(true) }, t("search_older"))
        : null,
    );
  }

  _foundRow(item) {
    const client = this.client;
    const conv = client.convs.get(item.conv);
    const title = conv ? convTitle(client, conv) : item.conv;
    const open = () => {
      this.clearSearch();
      this.ctx.openMessage(item.conv, item.seq);
    };
    return h(
      "li",
      null,
      h(
        "button.found-hit",
        { type: "button", onclick: open, dataset: { conv: item.conv, seq: String(item.seq) } },
        h("span.conv-top", null, h("span.conv-title", null, title), h("time.conv-time", null, formatListTime(item.ts))),
        h("span.found-snippet", null, `${client.userName(item.from)}: `, renderSnippet(item.snippet)),
      ),
    );
  }
}
