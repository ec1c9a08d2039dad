// What the pages show for conversations and messages (no wx calls: plain functions).

/** @param {import("../sdk/wechat.js").PigeonClient} client @param {Record<string, any>} conv */
export function convTitle(client, conv) {
  if (conv.kind === "direct" && conv.peer) return conv.peer.display_name || conv.peer.username;
  return conv.title || conv.id;
}

/** @param {import("../sdk/wechat.js").PigeonClient} client @param {Record<string, any> | undefined} message */
export function preview(client, message) {
  if (!message) return "";
  if (message.recalled) return "[recalled]";
  switch (message.kind) {
    case "text":
      return message.body.text;
    case "image":
      return "[image]";
    case "file":
      return `[file] ${message.body.name || ""}`;
    case "system":
      return "[notice]";
    default:
      return `[${message.kind}]`;
  }
}

/** @param {number} ts */
export function clock(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}
