// One-line text for a message: the conversation list, reply quotes, notifications.

import { t } from "../i18n.js";

export function previewText(client, message) {
  if (!message) return "";
  if (message.recalled) return t("recalled");
  const body = message.body || {};
  switch (message.kind) {
    case "text":
      return body.text || "";
    case "image":
      return body.caption ? `${t("image")} ${body.caption}` : t("image");
    case "file":
      return `${t("file")} ${body.name || ""}`.trim();
    case "recall":
      return t("recalled_by", { name: message.from === client.me.id ? t("you") : client.userName(message.from) });
    case "edit":
      return body.text || "";
    case "react":
    case "pin":
    case "unpin":
      return markText(client, message);
    case "system":
      return systemText(client, message);
    default:
      return t("custom");
  }
}

export function convTitle(client, conv) {
  if (conv.peer) return conv.peer.display_name || conv.peer.username;
  return conv.title || t("kind_group");
}

export function typingText(client, convId, short = false) {
  const typers = client.typers(convId);
  if (!typers.length) return "";
  const conv = client.convs.get(convId);
  if (short && conv && conv.kind === "direct") return t("typing_short");
  if (typers.length === 1) return t("typing_one", { name: client.userName(typers[0]) });
  return t("typing_many", { n: typers.length });
}

/** A reaction or pin entry as a sentence ("Alice pinned a message"). */
export function markText(client, message) {
  const body = message.body || {};
  const name = message.from === client.me.id ? t("you") : client.userName(message.from);
  if (message.kind === "pin") return t("pinned_by", { name });
  if (message.kind === "unpin") return t("unpinned_by", { name });
  return t(body.on === false ? "unreacted_by" : "reacted_by", { name, emoji: body.emoji || "" });
}

/** Server-written notices ("Alice added Bob"); unknown events fall back to a generic label. */
export function systemText(client, message) {
  const body = message.body || {};
  if (body.text) return body.text;
  const key = `sys_${body.event}`;
  if (t(key) === key) return t("system_msg");
  const name = (id) => (id === client.me.id ? t("you") : client.userName(id));
  const users = (body.users || (body.user ? [body.user] : [])).map(name).join(", ");
  return t(key, { actor: name(body.actor || message.from), users, title: body.title || "" });
}
