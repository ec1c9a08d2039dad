// Reactions and pins (docs/protocol.md, "Reactions and pins"): pure folding of the
// `react`, `pin`, `unpin` and `recall` entries into what a client shows.
//
// A `react` entry carries the emoji's count after it, so applying entries in seq order
// gives the same summary history shows; `mine` follows our own entries (any device).

/** @typedef {{emoji: string, count: number, mine: boolean}} Reaction */
/** @typedef {{seq: number, by: string, at: number, message: Record<string, any>}} Pin */

/** Entries that mark an earlier message (body.seq) and have no bubble of their own. */
export const MARK_KINDS = new Set(["react", "pin", "unpin"]);

/** Of those, the ones a log shows as a notice ("Alice pinned a message"). */
export const NOTICE_KINDS = new Set(["pin", "unpin"]);

/**
 * The target's reactions after a `react` entry.
 * @param {Reaction[] | undefined} reactions
 * @param {{from: string, body: Record<string, any>}} entry
 * @param {string} me
 * @returns {Reaction[]}
 */
export function applyReaction(reactions, entry, me) {
  const { emoji, count, on } = entry.body || {};
  if (typeof count !== "number") return reactions || []; // not the stored copy: nothing known
  const list = (reactions || []).map((r) => ({ ...r }));
  let found = list.find((r) => r.emoji === emoji);
  if (!found) {
    found = { emoji, count: 0, mine: false };
    list.push(found);
  }
  found.count = count;
  if (entry.from === me) found.mine = !!on;
  return list.filter((r) => r.count > 0);
}

/**
 * A conversation's pin list after an entry (newest pin first).
 * @param {Pin[]} pins
 * @param {Record<string, any>} entry
 * @param {Record<string, any> | undefined} target  the pinned message, when known
 * @returns {Pin[]}
 */
export function applyPinEntry(pins, entry, target) {
  const seq = entry.body && entry.body.seq;
  if (entry.kind === "pin") {
    if (pins.some((p) => p.seq === seq)) return pins;
    return [{ seq, by: entry.from, at: entry.ts, message: target || { seq, conv: entry.conv } }, ...pins];
  }
  if (entry.kind === "unpin" || entry.kind === "recall") return pins.filter((p) => p.seq !== seq);
  return pins;
}

/** Pin lists of the conversations asked for, newest pin first, kept from later entries. */
export class PinLists {
  /**
   * @param {object} deps
   * @param {{get: (path: string) => Promise<any>}} deps.api
   * @param {(event: string, payload?: any) => void} deps.emit
   * @param {(convId: string) => {get: (seq: number) => any} | undefined} deps.timeline
   */
  constructor({ api, emit, timeline }) {
    this.api = api;
    this.emit = emit;
    this.timeline = timeline;
    /** @type {Map<string, Pin[]>} */
    this.lists = new Map();
  }

  /** @param {string} convId @returns {Promise<Pin[]>} */
  async load(convId) {
    const data = await this.api.get(`/conversations/${encodeURIComponent(convId)}/pins`);
    this.lists.set(convId, data.items);
    this.emit("pins", convId);
    return data.items;
  }

  /** @param {string} convId @returns {Pin[]} */
  of(convId) {
    return this.lists.get(convId) || [];
  }

  /** A message of the stream: pin, unpin and recall entries change a loaded list. @param {Record<string, any>} message */
  fold(message) {
    const pins = this.lists.get(message.conv);
    if (!pins || !["pin", "unpin", "recall"].includes(message.kind)) return;
    const timeline = this.timeline(message.conv);
    const target = timeline && message.body ? timeline.get(message.body.seq) : undefined;
    const next = applyPinEntry(pins, message, target);
    if (next === pins) return;
    this.lists.set(message.conv, next);
    this.emit("pins", message.conv);
  }
}
