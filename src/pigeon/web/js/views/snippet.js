// Search snippets: the server sends an array of plain strings whose odd entries are the
// matches (docs/protocol.md, "Message search"). Every part becomes a text node, so a
// message containing markup shows that markup as text; only <mark> is ours.

import { h } from "../dom.js";

/** @param {string[]} parts */
export function renderSnippet(parts) {
  return parts.map((part, index) => (index % 2 ? h("mark", null, part) : part));
}
