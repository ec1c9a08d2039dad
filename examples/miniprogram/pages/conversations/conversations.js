// The conversation list with unread counts, live; search people to start a direct chat.

import { convTitle, preview, clock } from "../../lib/format.js";

const STATE_TEXT = { online: "", syncing: "Updating…", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "No network", idle: "" };

Page({
  data: { items: [], banner: "", query: "", people: [] },

  async onLoad() {
    const client = await getApp().client().catch(() => null);
    if (!client) {
      wx.redirectTo({ url: "/pages/login/login" });
      return;
    }
    this.client = client;
    this.offs = [
      client.on("convs", () => this.render()),
      client.on("users", () => this.render()),
      client.on("state", () => this.render()),
    ];
    this.render();
  },

  onShow() {
    if (this.client) this.render();
  },

  onUnload() {
    for (const off of this.offs || []) off();
  },

  render() {
    const client = this.client;
    const items = client.sortedConversations().map((conv) => ({
      id: conv.id,
      title: convTitle(client, conv),
      preview: preview(client, conv.last_message),
      time: clock(conv.last_ts),
      unread: conv.muted ? 0 : conv.unread || 0,
    }));
    this.setData({ items, banner: STATE_TEXT[client.connState] || "" });
    const total = client.totalUnread();
    wx.setNavigationBarTitle({ title: total ? `Pigeon (${total})` : "Pigeon" });
  },

  open(event) {
    wx.navigateTo({ url: `/pages/chat/chat?conv=${encodeURIComponent(event.currentTarget.dataset.id)}` });
  },

  async onSearch(event) {
    const query = event.detail.value.trim();
    this.setData({ query });
    if (query.length < 2) {
      this.setData({ people: [] });
      return;
    }
    const data = await this.client.api.get(`/users?q=${encodeURIComponent(query)}&limit=10`).catch(() => ({ items: [] }));
    if (query !== this.data.query) return;
    const me = this.client.me.id;
    this.setData({ people: data.items.filter((u) => u.id !== me).map((u) => ({ id: u.id, name: u.display_name || u.username, username: u.username })) });
  },

  async startChat(event) {
    const conv = await this.client.openDirect(event.currentTarget.dataset.id);
    this.setData({ query: "", people: [] });
    wx.navigateTo({ url: `/pages/chat/chat?conv=${encodeURIComponent(conv.id)}` });
  },

  signOut() {
    getApp().signOut();
  },
});
