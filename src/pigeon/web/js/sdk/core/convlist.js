// Rules of the conversation list, as pure functions: merging a server item into what we know,
// updating the summary (last message, unread count, mention flag) when a message is news,
// ordering, and the total unread count.

import { HIDDEN_KINDS } from "./outbox.js";

/** @typedef {Record<string, any>} Conversation */

/**
 * A server item merged into what we know: a newer last message we already have wins over an
 * older item (a list fetched before a live push arrived).
 * @param {Conversation | undefined} known @param {Conversation} item @returns {Conversation}
 */
export function mergeConversation(known, item) {
  const conv = { ...(known || {}), ...item };
  if (known && known.last_seq > item.last_seq) {
    conv.last_seq = known.last_seq;
    conv.last_message = known.last_message;
    conv.last_ts = known.last_ts;
  }
  return conv;
}

/** @param {Record<string, any>} message @param {string} me */
export function mentions(message, me) {
  const list = message.mentions || [];
  return list.includes(me) || list.includes("@all");
}

/**
 * Fold a message that is news into its conversation's summary. Unread counts only grow for
 * live messages from others that the reader is not looking at (catch-up takes the server's
 * count from sync instead); edits, recalls and system notices are never unread; our own
 * message means we read everything before it.
 * @param {Conversation} conv  changed in place
 * @param {Record<string, any>} message
 * @param {{me: string, live: boolean, viewing: boolean}} context
 * @returns {boolean} whether the summary changed
 */
export function summarize(conv, message, { me, live, viewing }) {
  if (message.seq <= (conv.last_message ? conv.last_message.seq : 0)) return false;
  if (message.kind === "edit" && conv.last_message && conv.last_message.seq === message.body.seq) {
    conv.last_message = { ...conv.last_message, body: { ...conv.last_message.body, text: message.body.text } };
  } else if (message.kind !== "edit") {
    conv.last_message = message;
  }
  const wasNew = message.seq > (conv.last_seq || 0);
  conv.last_seq = Math.max(conv.last_seq || 0, message.seq);
  conv.last_ts = Math.max(conv.last_ts || 0, message.ts);
  if (message.from === me) {
    conv.read_seq = Math.max(conv.read_seq || 0, message.seq);
    conv.unread = 0;
    conv.mentioned = false;
  } else if (live && wasNew && !viewing && !HIDDEN_KINDS.has(message.kind) && message.kind !== "system") {
    conv.unread = (conv.unread || 0) + 1;
    if (mentions(message, me)) conv.mentioned = true;
  }
  return true;
}

/**
 * Pinned first, then by last activity.
 * @param {Iterable<Conversation>} convs @param {(conv: Conversation) => number} activity
 */
export function sortConversations(convs, activity) {
  return Array.from(convs).sort((a, b) => {
    if (!!a.pinned !== !!b.pinned) return a.pinned ? -1 : 1;
    return activity(b) - activity(a);
  });
}

/** Unread messages over the conversations that are not muted. @param {Iterable<Conversation>} convs */
export function totalUnread(convs) {
  let total = 0;
  for (const conv of convs) if (!conv.muted) total += conv.unread || 0;
  return total;
}
