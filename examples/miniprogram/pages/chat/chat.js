// One conversation: messages in seq order (and our own still in the outbox), typing, read
// receipts, sending text and images (wx.chooseMedia → upload with progress → image message),
// and wx.previewImage on tap.

import { convTitle, clock } from "../../lib/format.js";

const TYPING_IDLE_MS = 4_000;

Page({
  data: { title: "", rows: [], text: "", typing: "", upload: null, banner: "", bottom: "" },

  async onLoad(query) {
    const client = await getApp().client().catch(() => null);
    if (!client) {
      wx.redirectTo({ url: "/pages/login/login" });
      return;
    }
    this.client = client;
    this.conv = decodeURIComponent(query.conv);
    /** @type {Map<string, Record<string, any> | "loading">} file id → file object */
    this.files = new Map();
    client.setActive(this.conv);
    client.viewing = true;
    const mine = (id) => id === this.conv;
    this.offs = [
      client.on("timeline", (id) => mine(id) && this.render()),
      client.on("receipts", (id) => mine(id) && this.render()),
      client.on("typing", (id) => mine(id) && this.renderTyping()),
      client.on("state", () => this.render()),
      client.on("users", () => this.render()),
    ];
    const conv = client.convs.get(this.conv);
    const title = conv ? convTitle(client, conv) : "Chat";
    this.setData({ title });
    wx.setNavigationBarTitle({ title });
    try {
      await client.loadLatest(this.conv);
    } catch (error) {
      this.setData({ banner: (error && error.message) || "could not load messages" });
    }
    client.markRead(this.conv);
    this.render();
  },

  onUnload() {
    for (const off of this.offs || []) off();
    if (this.client) {
      this.client.setTyping(this.conv, false);
      this.client.setActive(null);
    }
  },

  render() {
    const client = this.client;
    const timeline = client.timeline(this.conv);
    const rows = timeline.visible().map((m) => this.row(m, m.from === client.me.id ? client.tickFor(this.conv, m.seq) : ""));
    for (const item of client.pendingFor(this.conv)) {
      rows.push(this.row({ ...item, seq: 0, from: client.me.id }, item.state === "failed" ? "failed" : "sending"));
    }
    const banner = client.online ? "" : client.connState === "offline" ? "No network" : "Connecting…";
    this.setData({ rows, banner, bottom: rows.length ? rows[rows.length - 1].key : "" });
    client.markRead(this.conv);
  },

  /** One message as the template shows it. */
  row(message, status) {
    const client = this.client;
    const out = {
      key: message.seq ? `s${message.seq}` : `c${message.cid}`,
      seq: message.seq,
      cid: message.cid,
      mine: message.from === client.me.id,
      sender: client.userName(message.from),
      time: clock(message.ts),
      status,
      kind: message.recalled ? "recalled" : message.kind,
      text: message.kind === "text" ? message.body.text : "",
    };
    if (message.kind === "pin" || message.kind === "unpin") {
      out.kind = "notice";
      out.text = `${out.mine ? "You" : out.sender} ${message.kind === "pin" ? "pinned" : "unpinned"} a message`;
    }
    if (message.kind === "image" && !message.recalled) {
      const file = this.file(message.body.file_id);
      out.fileId = message.body.file_id;
      out.thumb = file ? file.thumbnail_url || file.url : "";
      const scale = Math.min(1, 360 / (message.body.width || 360), 360 / (message.body.height || 360));
      out.width = Math.round((message.body.width || 360) * scale);
      out.height = Math.round((message.body.height || 360) * scale);
    }
    return out;
  },

  /** The file object (signed URLs) once fetched; fetching it re-renders. */
  file(fileId) {
    const known = this.files.get(fileId);
    if (known && known !== "loading") return known;
    if (!known) {
      this.files.set(fileId, "loading");
      this.client.fileInfo(fileId).then(
        (file) => {
          this.files.set(fileId, file);
          this.render();
        },
        () => this.files.delete(fileId),
      );
    }
    return null;
  },

  renderTyping() {
    const client = this.client;
    const names = client.typers(this.conv).map((id) => client.userName(id));
    this.setData({ typing: names.length ? `${names.join(", ")} typing…` : "" });
  },

  onInput(event) {
    const text = event.detail.value;
    this.setData({ text });
    this.client.setTyping(this.conv, text.length > 0);
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.client.setTyping(this.conv, false), TYPING_IDLE_MS);
  },

  send() {
    const text = this.data.text.trim();
    if (!text) return;
    clearTimeout(this.typingTimer);
    this.client.sendText(this.conv, text);
    this.setData({ text: "" });
  },

  retry(event) {
    this.client.retry(event.currentTarget.dataset.cid);
  },

  chooseImage() {
    return new Promise((resolve) => {
      wx.chooseMedia({
        count: 1,
        mediaType: ["image"],
        sizeType: ["compressed"],
        success: (result) => resolve(this.sendImage(result.tempFiles[0].tempFilePath)),
        fail: () => resolve(null),
      });
    });
  },

  async sendImage(path) {
    this.setData({ upload: { progress: 0 } });
    try {
      const { file } = await this.client.sendImage(this.conv, { path }, {
        onProgress: (fraction) => this.setData({ upload: { progress: Math.round(fraction * 100) } }),
      });
      this.files.set(file.id, file);
      return file;
    } catch (error) {
      wx.showToast({ title: (error && error.message) || "upload failed", icon: "none" });
      return null;
    } finally {
      this.setData({ upload: null });
    }
  },

  async preview(event) {
    const fileId = event.currentTarget.dataset.file;
    // Signed URLs expire: ask for fresh ones when the picture is opened.
    const file = await this.client.fileInfo(fileId);
    this.files.set(fileId, file);
    const urls = [];
    for (const row of this.data.rows) {
      const known = row.fileId && this.files.get(row.fileId);
      if (known && known !== "loading") urls.push(known.url);
    }
    wx.previewImage({ current: file.url, urls: urls.includes(file.url) ? urls : [file.url] });
  },
});
