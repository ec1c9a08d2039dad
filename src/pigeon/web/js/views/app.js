// The signed-in shell: sidebar and chat side by side (one at a time on a phone), routing by
// location hash, the tab title and notifications.

import { h, clear, avatar, fill } from "../dom.js";
import { t, onLangChange, errorText } from "../i18n.js";
import { icon } from "../icons.js";
import { PigeonClient } from "../sdk/browser.js";
import { Sidebar } from "./sidebar.js";
import { ChatView } from "./chat.js";
import { previewText, convTitle } from "./preview.js";
import { toast, closeAllDialogs } from "./dialogs.js";
import { openProfile } from "./friends.js";
import { newGroupDialog, groupInfoDialog } from "./groups.js";
import { settingsDialog } from "./settings.js";
import { updateTitle, notify } from "../notify.js";
import { registerWorker, unsubscribePush } from "../push.js";

export class AppView {
  constructor(root, api, config, onSignedOut) {
    this.root = root;
    this.api = api;
    this.onSignedOut = onSignedOut;
    this.client = new PigeonClient(api, config);
    this.chat = null;
    this.ctx = {
      client: this.client,
      openConv: (id) => this.navigate(id),
      openMessage: (id, seq) => this.openMessage(id, seq),
      closeConv: () => this.navigate(null),
      openProfile: (userId) => userId && openProfile(this.ctx, userId),
      openGroupInfo: (convId, chat) => groupInfoDialog(this.ctx, convId, chat),
      openSettings: () => settingsDialog(this.ctx),
      newGroup: () => newGroupDialog(this.ctx),
      personRow: (user) => this.personRow(user),
      logout: () => this.logout(),
      accountDeleted: () => this.accountDeleted(),
      refreshAll: () => this.refreshAll(),
      setRequests: (n) => this.sidebar.setRequests(n),
    };
    this.client.on("convs", () => updateTitle(this.client.totalUnread()));
    this.client.on("incoming", (event) => this._notify(event));
    this.client.on("authlost", () => this.signedOut(t("session_expired")));
    this.client.on("removed", (id) => {
      if (this.currentId === id) this.navigate(null);
    });
    this.client.on("frame", (frame) => frame.t === "friend_request" && this._onFriendRequest(frame));
    this.client.on("senderror", ({ frame }) => toast(t("something_wrong", { msg: errorText(frame) }), "error"));
    api.onAuthLost = () => this.signedOut(t("session_expired"));
    this._onHash = () => this.route();
    window.addEventListener("hashchange", this._onHash);
    this._offLang = onLangChange(() => this.refreshAll());
    this.build();
  }

  build() {
    this.sidebar = new Sidebar(this.ctx);
    this.main = h("main.main", { id: "main" });
    this.shell = h("div.app", null, this.sidebar.el, this.main);
    fill(this.root, this.shell);
  }

  async start() {
    registerWorker(this.client.config); // in the background: push needs it, the app does not
    this.countRequests();
    try {
      await this.client.start();
    } catch (error) {
      if (error && error.status === 401) return;
      toast(t("something_wrong", { msg: errorText(error) }), "error");
      this.client.connect();
    }
    this.route();
  }

  refreshAll() {
    const current = this.currentId;
    if (this.chat) this.chat.destroy();
    this.chat = null;
    this.currentId = undefined;
    this.sidebar.render();
    this.showConv(current || null);
    updateTitle(this.client.totalUnread());
  }

  navigate(convId) {
    const hash = convId ? `#/c/${encodeURIComponent(convId)}` : "#/";
    if (location.hash !== hash) location.hash = hash;
    else this.route();
  }

  route() {
    const match = /^#\/c\/(.+)$/.exec(location.hash);
    const convId = match ? decodeURIComponent(match[1]) : null;
    this.showConv(convId && this.client.convs.has(convId) ? convId : null);
  }

  showConv(convId) {
    if (convId === this.currentId) return;
    this.currentId = convId;
    if (this.chat) this.chat.destroy();
    this.chat = null;
    this.client.setActive(convId);
    this.shell.classList.toggle("chat-open", !!convId);
    if (!convId) {
      fill(this.main, 
        h("div.empty-main", null, h("img.empty-logo", { src: "/static/icon.svg", alt: "", width: 96, height: 96 }), h("p", null, t("select_chat"))),
      );
    } else {
      this.chat = new ChatView(this.ctx, convId);
      fill(this.main, this.chat.el);
      this.chat.composer.focus();
    }
    this.sidebar.schedule();
  }

  /** Open a conversation scrolled to message `seq` (a search result). */
  openMessage(convId, seq) {
    if (!this.client.convs.has(convId)) return;
    this.navigate(convId);
    this.showConv(convId);
    if (this.chat) this.chat.revealSeq(seq);
  }

  personRow(user) {
    const client = this.client;
    const name = user.display_name || user.username;
    const presence = client.presence.get(user.id);
    const open = async () => {
      try {
        const conv = await client.openDirect(user.id);
        this.sidebar.clearSearch();
        this.navigate(conv.id);
      } catch (error) {
        toast(t("something_wrong", { msg: errorText(error) }), "error");
      }
    };
    return h(
      "li.person",
      { dataset: { user: user.id } },
      h("button.person-open", { type: "button", onclick: open, "aria-label": `${t("start_chat")}: ${name}` },
        avatar(name, user.id, user.avatar, { online: presence ? !!presence.online : null }),
        h("span.person-text", null, h("span.person-name", null, name), h("span.person-sub", null, `@${user.username}`))),
      h("span.person-actions", null,
        h("button.icon-btn.small", { type: "button", "aria-label": `${t("view_profile")}: ${name}`, title: t("view_profile"), onclick: () => openProfile(this.ctx, user.id) }, icon("info", { size: 16 }))),
    );
  }

  /** Incoming friend requests still waiting for an answer: the Contacts tab's badge. */
  async countRequests() {
    if (!this.client.has("friends")) return;
    try {
      const data = await this.client.api.get("/friends/requests");
      this.sidebar.setRequests(data.items.filter((r) => r.direction === "in" && r.status === "pending").length);
    } catch {
      // The badge is a hint; the Contacts tab lists the requests anyway.
    }
  }

  /** A request to or from us was made or answered (live): tell the receiver at once. */
  async _onFriendRequest(frame) {
    if (frame.direction === "in" && frame.status === "pending") {
      const user = await this.client.getUser(frame.from);
      const name = user ? user.display_name || user.username : "";
      // On a phone the list (and its badge) is hidden behind an open chat: the button shows it.
      const view = () => {
        this.navigate(null);
        this.sidebar.showTab("contacts");
      };
      toast(t("friend_request_from", { name }), "info", { label: t("view"), onclick: view });
    }
    if (this.sidebar.tab === "contacts") this.sidebar.update(true);
    else this.countRequests();
  }

  _notify({ conv, message }) {
    const client = this.client;
    const sender = client.userName(message.from);
    const title = conv.kind === "direct" ? sender : convTitle(client, conv);
    const body = conv.kind === "direct" ? previewText(client, message) : `${sender}: ${previewText(client, message)}`;
    notify({ title, body, tag: conv.id, onClick: () => this.navigate(conv.id) });
  }

  async logout() {
    this.teardown();
    // Signing out on purpose leaves nothing of this account behind in the browser.
    this.client.forgetLocalData();
    // While the token still works: a browser signed out must not keep receiving this account's pushes.
    await unsubscribePush(this.api).catch(() => {});
    await this.api.logout();
    this.onSignedOut("");
  }

  /** The account is gone (the server has signed out every device): leave nothing behind. */
  accountDeleted() {
    this.teardown();
    this.client.forgetLocalData();
    this.api.clear();
    this.onSignedOut(t("account_deleted"));
  }

  signedOut(notice) {
    if (this.closed) return;
    this.teardown();
    this.api.clear();
    this.onSignedOut(notice);
  }

  teardown() {
    this.closed = true;
    if (this.chat) this.chat.destroy();
    this.chat = null;
    this.client.stop();
    this._offLang();
    window.removeEventListener("hashchange", this._onHash);
    closeAllDialogs();
    updateTitle(0);
  }
}
