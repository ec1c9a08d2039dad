// The message input: Enter sends, Shift+Enter breaks the line (IME-safe), typing
// notifications, reply and edit bars, @mention completion, emoji, attachments.

import { h, clear, avatar, formatBytes, fill, textLength } from "../dom.js";
import { t, errorText, lang } from "../i18n.js";
import { icon } from "../icons.js";
import { imageSize, rememberFile } from "../files.js";
import { previewText } from "./preview.js";
import { toast } from "./dialogs.js";
import { imagePreview } from "./imagepreview.js";

const EMOJI = "😀 😂 🤣 😊 😍 🥰 😘 😎 🤔 😅 😭 😡 👍 👎 👏 🙏 💪 🎉 ❤️ 🔥 ✨ 🌹 ☕ 🍺 🎂 🐦 😴 🙈 👀 ✅ ❌ 💯".split(" ");
const MENTION_RE = /(?:^|\s)@([^\s@]{0,32})$/u;
const DRAFTS = new Map();
// The counter appears once the text is this close to the server's limit.
const COUNTER_FROM = 0.9;

export class Composer {
  constructor(chat) {
    this.chat = chat;
    this.client = chat.client;
    this.convId = chat.convId;
    this.replyTo = null;
    this.editing = null;
    this.mentions = new Map(); // display text → user id, for names picked from the list
    this.mentionState = null;
    this.el = h("footer.composer");
    this.build();
  }

  destroy() {
    const text = this.input.value;
    if (text && !this.editing) DRAFTS.set(this.convId, text);
    else DRAFTS.delete(this.convId);
    this.client.setTyping(this.convId, false);
    this.closeEmoji();
  }

  get canPost() {
    const conv = this.client.convs.get(this.convId);
    if (!conv || conv.kind !== "channel") return true;
    return this.chat.isAdmin();
  }

  refresh() {
    const readOnly = !this.canPost;
    this.el.classList.toggle("read-only", readOnly);
    this.notice.hidden = !readOnly;
    this.row.hidden = readOnly;
  }

  build() {
    const client = this.client;
    this.barEl = h("div.compose-bar", { hidden: true });
    this.popEl = h("div.mention-pop", { role: "listbox", id: `mentions-${this.convId}`, hidden: true, "aria-label": t("mention_all") });
    this.emojiEl = h("div.emoji-pop", {
      hidden: true,
      role: "group",
      "aria-label": t("emoji"),
      onkeydown: (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          this.closeEmoji();
          this.input.focus();
        }
      },
    },
      EMOJI.map((e) => h("button.emoji", { type: "button", "aria-label": e, onclick: () => this.insert(e) }, e)));
    this.input = h("textarea.input", {
      rows: 1,
      placeholder: t("message_placeholder"),
      "aria-label": t("message_placeholder"),
      "aria-autocomplete": "list",
      "aria-controls": `mentions-${this.convId}`,
      oninput: () => this.onInput(),
      onkeydown: (event) => this.onKey(event),
      onblur: () => setTimeout(() => this.closeMentions(), 150),
      onpaste: (event) => this.onPaste(event),
    });
    this.fileInput = h("input", { type: "file", hidden: true, multiple: true, onchange: (event) => this.onFiles(event.target.files) });
    const attach = client.has("files")
      ? h("button.icon-btn", { type: "button", "aria-label": t("attach"), title: t("attach"), onclick: () => this.fileInput.click() }, icon("attach"))
      : null;
    this.row = h(
      "div.compose-row",
      null,
      attach,
      this.fileInput,
      h("button.icon-btn", { type: "button", "aria-label": t("emoji"), title: t("emoji"), "aria-expanded": "false", onclick: (event) => this.toggleEmoji(event.currentTarget) }, icon("smile")),
      this.input,
      (this.sendButton = h("button.send-btn", { type: "button", "aria-label": t("send"), title: t("send"), onclick: () => this.submit() }, icon("send"))),
    );
    this.notice = h("div.read-only-notice", { hidden: true }, t("read_only_channel"));
    this.counter = h("div.text-counter", { id: `counter-${this.convId}`, hidden: true, "aria-live": "polite" });
    this.input.setAttribute("aria-describedby", this.counter.id);
    fill(this.el, this.barEl, this.popEl, this.emojiEl, this.row, this.counter, this.notice);
    const draft = DRAFTS.get(this.convId);
    if (draft) {
      this.input.value = draft;
      queueMicrotask(() => {
        this.autosize();
        this.updateCounter();
      });
    }
    if (client.has("files")) {
      this.el.addEventListener("dragover", (event) => event.preventDefault());
      this.el.addEventListener("drop", (event) => {
        event.preventDefault();
        if (event.dataTransfer.files.length) this.onFiles(event.dataTransfer.files);
      });
    }
    this.refresh();
  }

  focus() {
    this.input.focus();
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 180)}px`;
  }

  insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = this.input;
    this.input.value = value.slice(0, start) + text + value.slice(end);
    this.input.selectionStart = this.input.selectionEnd = start + text.length;
    this.input.focus();
    this.onInput();
  }

  toggleEmoji(button) {
    this.emojiButton = button;
    if (!this.emojiEl.hidden) {
      this.closeEmoji();
      return;
    }
    this.emojiEl.hidden = false;
    button.setAttribute("aria-expanded", "true");
    this.emojiEl.querySelector("button").focus();
    // A click anywhere else closes the picker (registered after this click has finished).
    setTimeout(() => document.addEventListener("mousedown", this._outside, true));
  }

  _outside = (event) => {
    if (!this.emojiEl.contains(event.target) && event.target !== this.emojiButton && !this.emojiButton?.contains(event.target)) this.closeEmoji();
  };

  closeEmoji() {
    this.emojiEl.hidden = true;
    if (this.emojiButton) this.emojiButton.setAttribute("aria-expanded", "false");
    document.removeEventListener("mousedown", this._outside, true);
  }

  /** The server's limit (GET /api/v1/config `limits.max_text_chars`); none when it publishes none. */
  get maxChars() {
    return this.client.limits.max_text_chars || Infinity;
  }

  /** Show how many characters are left near the limit; over it, say why sending is refused. */
  updateCounter() {
    const max = this.maxChars;
    const n = textLength(this.input.value.trim());
    const over = n > max;
    this.counter.hidden = n < max * COUNTER_FROM;
    this.counter.classList.toggle("over", over);
    this.input.toggleAttribute("aria-invalid", over);
    this.sendButton.disabled = over;
    if (this.counter.hidden) return;
    const format = (x) => x.toLocaleString(lang() === "zh" ? "zh-CN" : "en");
    this.counter.textContent = over ? t("text_too_long", { n: format(n), max: format(max) }) : t("text_left", { n: format(max - n), max: format(max) });
  }

  onInput() {
    this.autosize();
    this.updateCounter();
    if (!this.editing) this.client.setTyping(this.convId, this.input.value.trim().length > 0);
    this.updateMentions();
  }

  onKey(event) {
    if (this.mentionState && this.handleMentionKey(event)) return;
    if (event.key === "Escape") {
      if (!this.emojiEl.hidden) this.closeEmoji();
      else if (this.editing || this.replyTo) this.cancelBar();
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      this.submit();
    }
    if (event.key === "ArrowUp" && !this.input.value && this.client.has("edit")) {
      const mine = this.client.timeline(this.convId).visible().filter((m) => m.from === this.client.me.id && m.kind === "text" && !m.recalled);
      if (mine.length) {
        event.preventDefault();
        this.startEdit(mine[mine.length - 1]);
      }
    }
  }

  submit() {
    const text = this.input.value.trim();
    if (!text || !this.canPost) return;
    if (textLength(text) > this.maxChars) {
      this.updateCounter();
      return; // the counter says why; the text stays for the user to shorten
    }
    if (this.editing) {
      if (text !== this.editing.body.text) this.client.send(this.convId, "edit", { seq: this.editing.seq, text });
    } else {
      const options = {};
      if (this.replyTo) options.reply_to = this.replyTo.seq;
      const mentions = this.collectMentions(text);
      if (mentions.length) options.mentions = mentions;
      this.client.send(this.convId, "text", { text }, options);
      this.chat.stickToBottom = true;
    }
    this.input.value = "";
    this.mentions.clear();
    this.cancelBar();
    this.autosize();
    this.updateCounter();
    this.closeMentions();
    this.closeEmoji();
    this.input.focus();
  }

  // --- reply and edit

  startReply(message) {
    this.editing = null;
    this.replyTo = message;
    const name = message.from === this.client.me.id ? t("you") : this.client.userName(message.from);
    this.showBar(icon("reply", { size: 18 }), t("replying_to", { name }), previewText(this.client, message));
    this.input.focus();
  }

  startEdit(message) {
    this.replyTo = null;
    this.editing = message;
    this.input.value = message.body.text;
    this.showBar(icon("edit", { size: 18 }), t("editing"), message.body.text);
    this.autosize();
    this.updateCounter();
    this.input.focus();
  }

  showBar(glyph, title, text) {
    this.barEl.hidden = false;
    fill(this.barEl, 
      glyph,
      h("div.bar-text", null, h("strong", null, title), h("span", null, text)),
      h("button.icon-btn.small", { type: "button", "aria-label": t("cancel"), onclick: () => this.cancelBar(true) }, icon("close", { size: 16 })),
    );
  }

  cancelBar(clearText = false) {
    if (this.editing && clearText) this.input.value = "";
    this.replyTo = null;
    this.editing = null;
    this.barEl.hidden = true;
    clear(this.barEl);
  }

  // --- mentions

  mentionCandidates(query) {
    const conv = this.client.convs.get(this.convId);
    if (!conv || conv.kind === "direct" || !this.client.has("mentions")) return [];
    const q = query.toLowerCase();
    const out = [];
    if (this.chat.isAdmin() && ("all".startsWith(q) || t("everyone").startsWith(q))) {
      out.push({ id: "@all", name: "all", label: t("mention_all") });
    }
    for (const member of this.chat.members.values()) {
      const user = member.user;
      if (user.id === this.client.me.id) continue;
      const name = user.display_name || user.username;
      if (name.toLowerCase().includes(q) || user.username.toLowerCase().includes(q)) {
        out.push({ id: user.id, name, label: `@${user.username}`, user });
      }
      if (out.length >= 8) break;
    }
    return out;
  }

  updateMentions() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = MENTION_RE.exec(before);
    const items = match ? this.mentionCandidates(match[1]) : [];
    if (!items.length) {
      this.closeMentions();
      return;
    }
    this.mentionState = { items, index: 0, start: before.length - match[1].length - 1 };
    this.drawMentions();
  }

  drawMentions() {
    const state = this.mentionState;
    this.popEl.hidden = false;
    fill(this.popEl, 
      ...state.items.map((item, i) =>
        h(
          `div.mention-item${i === state.index ? ".selected" : ""}`,
          {
            role: "option",
            id: `mention-${this.convId}-${i}`,
            "aria-selected": String(i === state.index),
            onmousedown: (event) => {
              event.preventDefault();
              state.index = i;
              this.pickMention();
            },
          },
          item.user ? avatar(item.name, item.id, item.user.avatar, { size: "small" }) : h("span.avatar.small.all", null, icon("at", { size: 14 })),
          h("span.mention-name", null, item.name),
          h("span.mention-label", null, item.label),
        ),
      ),
    );
    this.input.setAttribute("aria-activedescendant", `mention-${this.convId}-${state.index}`);
  }

  handleMentionKey(event) {
    const state = this.mentionState;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.index = (state.index + step + state.items.length) % state.items.length;
      this.drawMentions();
      return true;
    }
    if ((event.key === "Enter" || event.key === "Tab") && !event.isComposing) {
      event.preventDefault();
      this.pickMention();
      return true;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      this.closeMentions();
      return true;
    }
    return false;
  }

  pickMention() {
    const state = this.mentionState;
    const item = state.items[state.index];
    const value = this.input.value;
    const caret = this.input.selectionStart;
    const token = `@${item.name} `;
    this.input.value = value.slice(0, state.start) + token + value.slice(caret);
    this.input.selectionStart = this.input.selectionEnd = state.start + token.length;
    this.mentions.set(item.name, item.id);
    this.closeMentions();
    this.input.focus();
  }

  closeMentions() {
    this.mentionState = null;
    this.popEl.hidden = true;
    this.input.removeAttribute("aria-activedescendant");
  }

  collectMentions(text) {
    const ids = [];
    for (const [name, id] of this.mentions) if (text.includes(`@${name}`) && !ids.includes(id)) ids.push(id);
    return ids;
  }

  // --- attachments

  onPaste(event) {
    if (!this.client.has("files")) return;
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
    if (files.length) {
      event.preventDefault();
      this.onFiles(files);
    }
  }

  async onFiles(list) {
    const files = Array.from(list || []);
    this.fileInput.value = "";
    for (const file of files) {
      if (!isImage(file)) {
        await this.upload(file);
        continue;
      }
      // An image waits for the user: a look at it, a caption, then Send (or Cancel).
      const choice = await imagePreview(file, this.maxChars);
      if (choice) await this.upload(file, choice.caption);
    }
  }

  async upload(file, caption = "") {
    const max = this.client.limits.max_upload_bytes;
    if (max && file.size > max) {
      toast(t("too_large_file", { max: formatBytes(max) }), "error");
      return;
    }
    const image = isImage(file);
    const upload = { id: Math.random().toString(36).slice(2), name: file.name, size: file.size, ts: Date.now(), progress: 0, isImage: image, state: "uploading" };
    if (image) Object.assign(upload, await imageSize(file));
    this.chat.addUpload(upload);
    try {
      const stored = await this.client.upload(file, {
        onProgress: (fraction) => {
          upload.progress = fraction;
          this.chat.updateUpload(upload);
        },
      });
      rememberFile(stored);
      if (image) {
        const body = { file_id: stored.id, width: stored.width || upload.width, height: stored.height || upload.height };
        if (caption) body.caption = caption;
        this.client.send(this.convId, "image", body);
      } else {
        this.client.send(this.convId, "file", { file_id: stored.id, name: stored.name || file.name });
      }
      upload.done = true;
      this.chat.updateUpload(upload);
    } catch (error) {
      upload.error = errorText(error);
      upload.state = "failed";
      this.chat.updateUpload(upload);
      toast(t("upload_failed", { msg: upload.error }), "error");
      setTimeout(() => {
        upload.done = true;
        this.chat.updateUpload(upload);
      }, 6_000);
    }
  }
}

function isImage(file) {
  return /^image\/(png|jpe?g|gif|webp|bmp)$/i.test(file.type);
}
