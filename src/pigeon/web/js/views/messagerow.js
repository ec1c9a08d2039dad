// How one message looks in the log: the bubble with its sender, quote, content (text,
// image, file, upload in progress), time and tick, and the actions beside it. Methods of
// ChatView (installed on its prototype), kept here so each file stays readable.

import { h, avatar, richText, isEmojiOnly, colorFor, formatBytes } from "../dom.js";
import { t, formatTime, errorText } from "../i18n.js";
import { icon } from "../icons.js";
import { fileInfo, fitBox } from "../files.js";
import { openViewer, toast, confirmDialog, openDialog } from "./dialogs.js";
import { previewText, convTitle } from "./preview.js";

// What a forward may copy (docs/protocol.md, "Forwarding").
const FORWARDABLE = new Set(["text", "image", "file", "custom"]);

export const messageRowMethods = {
  _systemRow(m) {
    return h("div.system-row", { dataset: { seq: m.seq } }, h("span", null, previewText(this.client, m)));
  },

  _bubbleRow(item, first, last, tick, quoted) {
    const client = this.client;
    const m = item.m;
    const own = item.from === client.me.id;
    const conv = this.conv;
    const group = conv && conv.kind !== "direct";
    const name = client.userName(item.from);
    const bubble = h(
      `div.bubble${m.recalled ? ".recalled" : ""}${m.kind === "text" && isEmojiOnly(m.body && m.body.text) ? ".emoji-only" : ""}${m.kind === "image" ? ".media" : ""}`,
      { tabindex: "0", "aria-label": `${own ? t("you") : name}, ${formatTime(m.ts)}: ${previewText(client, m)}` },
      group && first && !own ? h("div.sender", { style: `color:${colorFor(item.from)}` }, name) : null,
      m.forwarded && !m.recalled ? this._forwardedFrom(m.forwarded) : null,
      quoted || m.reply_to ? this._quote(m.reply_to, quoted) : null,
      this._content(item),
      this._reactionChips(m),
      this._meta(item, tick),
    );
    const row = h(
      `div.row${own ? ".own" : ".other"}${first ? ".first" : ""}${last ? ".last" : ""}${item.type !== "msg" ? ".pending" : ""}`,
      { dataset: { seq: m.seq || "", cid: m.cid || "", state: item.type === "msg" ? "sent" : m.state || "queued" } },
      group && !own ? (last ? h("span.row-avatar", null, avatar(name, item.from, (client.users.get(item.from) || {}).avatar)) : h("span.row-avatar")) : null,
      bubble,
      item.type === "msg" && !m.recalled ? this._actions(m, own) : null,
      item.type === "pending" && m.state === "failed" ? this._failedActions(m) : null,
    );
    return row;
  },

  _forwardedFrom(origin) {
    // Only the author and time travel with a forward, never the conversation it came from.
    return h(
      "div.forwarded",
      { title: formatTime(origin.ts) },
      icon("forward", { size: 12 }),
      h("span", null, t("forwarded_from", { name: this.client.userName(origin.from) })),
    );
  },

  _forwardDialog(m) {
    const client = this.client;
    const from = this.convId;
    openDialog({
      title: () => t("forward_to"),
      cls: "forward-dialog",
      build: (body, close) => {
        const targets = client.sortedConversations().filter((conv) => !conv.removed);
        body.append(
          h(
            "div.forward-targets",
            { role: "list" },
            targets.map((conv) =>
              h("button.forward-target", {
                type: "button",
                role: "listitem",
                onclick: () => {
                  close();
                  client.forward(from, m.seq, conv.id).then(
                    () => toast(t("forwarded_done")),
                    (error) => toast(errorText(error), "error"),
                  );
                },
              }, avatar(convTitle(client, conv), conv.peer ? conv.peer.id : conv.id, conv.avatar), h("span", null, convTitle(client, conv))),
            ),
          ),
        );
      },
    });
  },

  _quote(seq, quoted) {
    const client = this.client;
    const name = quoted ? (quoted.from === client.me.id ? t("you") : client.userName(quoted.from)) : "";
    return h(
      "button.quote",
      { type: "button", onclick: () => this.scrollToSeq(seq), "aria-label": `${t("reply")}: ${name}` },
      h("span.quote-name", null, name || "…"),
      h("span.quote-text", null, quoted ? previewText(client, quoted) : ""),
    );
  },

  _content(item) {
    const m = item.m;
    if (m.recalled) return h("div.text.recalled-text", null, icon("recall", { size: 14 }), t("recalled"));
    if (item.type === "upload") return this._uploadContent(m);
    const body = m.body || {};
    switch (m.kind) {
      case "text":
        return h("div.text", null, richText(body.text || "", this._mentionNames(m)));
      case "image":
        return this._image(body);
      case "file":
        return this._file(body);
      default:
        return h("div.text.muted-text", null, previewText(this.client, m));
    }
  },

  _mentionNames(m) {
    if (!m.mentions || !m.mentions.length) return [];
    return m.mentions.map((id) => (id === "@all" ? "all" : this.client.userName(id)));
  },

  _image(body) {
    const box = fitBox(body.width, body.height);
    const img = h("img", { alt: body.caption || t("image"), width: box.width, height: box.height, decoding: "async" });
    const button = h("button.image-btn", { type: "button", "aria-label": t("open_image"), style: `width:${box.width}px;height:${box.height}px` }, img);
    fileInfo(this.client.api, body.file_id).then(
      (file) => {
        img.src = file.thumbnail_url || file.url;
        button.onclick = () => openViewer(file.url, file.name);
      },
      () => button.classList.add("broken"),
    );
    return h("figure.image", null, button, body.caption ? h("figcaption", null, body.caption) : null);
  },

  _file(body) {
    const size = h("span.file-size");
    const link = h("a.file-card", { href: "#", "aria-label": `${t("download")} ${body.name || ""}` },
      h("span.file-icon", null, icon("file", { size: 22 })),
      h("span.file-meta", null, h("span.file-name", null, body.name || t("file")), size),
      icon("download", { size: 18, cls: "file-dl" }),
    );
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      try {
        const file = await fileInfo(this.client.api, body.file_id);
        const a = h("a", { href: file.url, download: file.name || body.name || "", rel: "noopener" });
        document.body.append(a);
        a.click();
        a.remove();
      } catch (error) {
        toast(t("something_wrong", { msg: errorText(error) }), "error");
      }
    });
    fileInfo(this.client.api, body.file_id).then((file) => {
      size.textContent = formatBytes(file.size || 0);
    }, () => {});
    return link;
  },

  _uploadContent(upload) {
    const bar = h("div.progress", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(upload.progress * 100)), "aria-label": t("uploading", { name: upload.name }) },
      h("div.progress-fill", { style: `width:${Math.round(upload.progress * 100)}%` }),
    );
    const status = upload.error ? h("div.upload-error", { role: "alert" }, t("upload_failed", { msg: upload.error })) : null;
    if (upload.isImage && upload.url) {
      const box = fitBox(upload.width, upload.height);
      return h("figure.image.uploading", null, h("img", { src: upload.url, alt: upload.name, width: box.width, height: box.height, style: `width:${box.width}px;height:${box.height}px` }), bar, status);
    }
    return h("div.file-card.uploading", null, h("span.file-icon", null, icon("file", { size: 22 })),
      h("span.file-meta", null, h("span.file-name", null, upload.name), h("span.file-size", null, formatBytes(upload.size)), bar, status));
  },

  _meta(item, tick) {
    const m = item.m;
    const own = item.from === this.client.me.id;
    let status = null;
    if (own) {
      const state = item.type === "msg" ? tick : m.state === "failed" || m.error ? "failed" : "pending";
      // Sent: one tick; delivered: two grey ticks; read: two ticks in the accent colour.
      const glyph = { pending: "clock", sent: "check", delivered: "checks", read: "checksRead", failed: "alert" }[state];
      status = h(`span.tick.${state}`, { title: t(`status_${state}`), "aria-label": t(`status_${state}`), role: "img", dataset: { tick: state } }, icon(glyph, { size: 16 }));
    }
    return h(
      "span.meta",
      null,
      m.edited_at ? h("span.edited", null, t("edited")) : null,
      h("time", { datetime: new Date(m.ts).toISOString() }, formatTime(m.ts)),
      status,
    );
  },

  _actions(m, own) {
    const client = this.client;
    const buttons = [
      h("button.icon-btn.small", { type: "button", "aria-label": t("reply"), title: t("reply"), onclick: () => this.composer.startReply(m) }, icon("reply", { size: 16 })),
    ];
    if (m.kind === "text") {
      buttons.push(h("button.icon-btn.small", {
        type: "button", "aria-label": t("copy"), title: t("copy"),
        onclick: () => navigator.clipboard && navigator.clipboard.writeText(m.body.text).then(() => toast(t("copied")), () => {}),
      }, icon("copy", { size: 16 })));
    }
    if (FORWARDABLE.has(m.kind) && m.seq && client.has("forward")) {
      buttons.push(h("button.icon-btn.small.forward-btn", {
        type: "button", "aria-label": t("forward"), title: t("forward"), onclick: () => this._forwardDialog(m),
      }, icon("forward", { size: 16 })));
    }
    if (own && m.kind === "text" && client.has("edit")) {
      buttons.push(h("button.icon-btn.small", { type: "button", "aria-label": t("edit"), title: t("edit"), onclick: () => this.composer.startEdit(m) }, icon("edit", { size: 16 })));
    }
    const windowMs = (client.limits.recall_window_s ?? 120) * 1000;
    if (client.has("recall") && (own || this.isAdmin()) && Date.now() - m.ts <= windowMs) {
      buttons.push(h("button.icon-btn.small.recall-btn", {
        type: "button", "aria-label": t("recall"), title: t("recall_hint"),
        onclick: () => this._recall(m),
      }, icon("recall", { size: 16 })));
    }
    buttons.push(...this._markButtons(m));
    return h("div.actions", { role: "toolbar", "aria-label": t("message_actions") }, buttons);
  },

  async _recall(m) {
    const sure = await confirmDialog(() => t("confirm_recall"), { ok: () => t("recall"), danger: true, detail: () => previewText(this.client, m) });
    if (sure) this.client.send(this.convId, "recall", { seq: m.seq });
  },

  _failedActions(m) {
    return h(
      "div.failed-actions",
      null,
      m.error ? h("span.error-text", null, m.error) : null,
      h("button.link", { type: "button", onclick: () => this.client.retry(m.cid) }, t("retry")),
      h("button.link", { type: "button", onclick: () => this.client.discard(m.cid) }, t("delete")),
    );
  },
};
