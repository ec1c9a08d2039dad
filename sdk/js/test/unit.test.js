// Unit tests of the pure parts: ordering and dedup, the display timeline, the outbox, backoff.

import { test } from "node:test";
import assert from "node:assert/strict";

import { StreamTracker } from "../src/core/tracker.js";
import { Timeline } from "../src/core/timeline.js";
import { Outbox } from "../src/core/outbox.js";
import { Backoff } from "../src/core/backoff.js";
import { MemoryStorage } from "../src/core/storage.js";
import { newCid, newDeviceId, base64Utf8 } from "../src/core/ids.js";
import { Peers } from "../src/core/peers.js";

const msg = (seq, conv = "c1", extra = {}) => ({ conv, seq, id: `m${seq}`, from: "u1", kind: "text", body: { text: `#${seq}` }, ts: seq, cid: `k${seq}`, ...extra });
const seqs = (messages) => messages.map((m) => m.seq);

test("tracker delivers in order, holds back past a gap, never repeats", () => {
  const tracker = new StreamTracker();
  tracker.baseline("c1", 2);
  assert.deepEqual(seqs(tracker.offer([msg(1), msg(2)])), [], "at or below the baseline is history");
  assert.deepEqual(seqs(tracker.offer([msg(3)])), [3]);
  assert.deepEqual(seqs(tracker.offer([msg(5), msg(6)])), [], "held: 4 is missing");
  assert.equal(tracker.hasGap("c1"), true);
  assert.deepEqual(seqs(tracker.offer([msg(6), msg(4), msg(5)])), [4, 5, 6]);
  assert.equal(tracker.hasGap("c1"), false);
  assert.deepEqual(seqs(tracker.offer([msg(3), msg(4), msg(6)])), [], "repeats are dropped");
  assert.deepEqual(tracker.snapshot(), { c1: 6 });
});

test("tracker keeps conversations apart and starts unknown ones at their beginning", () => {
  const tracker = new StreamTracker({ a: 10 });
  const out = tracker.offer([msg(11, "a"), msg(2, "b"), msg(1, "b"), msg(12, "a")]);
  assert.deepEqual(out.map((m) => `${m.conv}${m.seq}`), ["a11", "a12", "b1", "b2"]);
  assert.equal(tracker.baseline("a", 0), false, "a baseline never moves a known stream");
  tracker.drop("a");
  assert.equal(tracker.knows("a"), false);
});

test("tracker: any arrival order and any repeats give each seq once, ascending", () => {
  for (let round = 0; round < 200; round++) {
    const tracker = new StreamTracker();
    const arrivals = [];
    for (let seq = 1; seq <= 30; seq++) for (let copies = 1 + (seq % 3); copies > 0; copies--) arrivals.push(msg(seq));
    arrivals.sort(() => Math.random() - 0.5);
    const out = [];
    for (let i = 0; i < arrivals.length; i += 1 + (i % 4)) out.push(...tracker.offer(arrivals.slice(i, i + 1 + (i % 4))));
    assert.deepEqual(seqs(out), Array.from({ length: 30 }, (_, i) => i + 1));
  }
});

test("timeline dedups by seq, notices gaps and folds edits and recalls", () => {
  const timeline = new Timeline("c1");
  timeline.reset([msg(1), msg(2)], false);
  assert.deepEqual(timeline.push(msg(2)), { fresh: false, gap: false });
  assert.deepEqual(timeline.push(msg(4)), { fresh: true, gap: true });
  assert.equal(timeline.hi, 2);
  timeline.extend([msg(3), msg(4)]);
  assert.equal(timeline.hi, 4);
  timeline.push(msg(5, "c1", { kind: "edit", body: { seq: 1, text: "changed" } }));
  timeline.push(msg(6, "c1", { kind: "recall", body: { seq: 2 } }));
  const visible = timeline.visible();
  assert.deepEqual(seqs(visible), [1, 2, 3, 4]);
  assert.equal(visible[0].body.text, "changed");
  assert.equal(visible[1].recalled, true);
});

test("outbox survives a restart, keeps cids, and settles on the stored copy", () => {
  const storage = new MemoryStorage();
  const first = new Outbox(storage, "k");
  const a = first.add("c1", "text", { text: "a" });
  const b = first.add("c1", "text", { text: "b" });
  assert.deepEqual(first.take().map((i) => i.cid), [a.cid, b.cid]);
  assert.deepEqual(first.take(), [], "in flight is not taken twice");
  first.resetInflight();
  assert.equal(first.take().length, 2, "sent again on the next socket");

  const second = new Outbox(storage, "k");
  assert.deepEqual(second.items.map((i) => [i.cid, i.body.text, !!i.inflight]), [[a.cid, "a", false], [b.cid, "b", false]]);
  assert.equal(second.settle("c1", a.cid)?.cid, a.cid);
  assert.equal(second.settle("c1", a.cid), undefined);
  second.fail(b.cid, "no");
  assert.deepEqual(second.take(), [], "failed waits for retry");
  second.retry(b.cid);
  assert.equal(second.take().length, 1);
  assert.deepEqual(new Outbox(storage, "k").items.map((i) => i.cid), [b.cid]);
});

test("outbox sends at most a window at a time", () => {
  const outbox = new Outbox(new MemoryStorage(), "k");
  for (let i = 0; i < 20; i++) outbox.add("c1", "text", { text: String(i) });
  assert.equal(outbox.take(8).length, 8);
  assert.equal(outbox.take(8).length, 0);
  outbox.settle("c1", outbox.items[0].cid);
  assert.equal(outbox.take(8).length, 1);
});

test("backoff: full jitter under a doubling cap, bounded, reset", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2 }, () => 0.999);
  const delays = Array.from({ length: 8 }, () => backoff.next());
  assert.deepEqual(delays.map((d) => Math.round(d)), [100, 200, 400, 799, 999, 999, 999, 999]);
  backoff.attempt = 10_000;
  assert.equal(backoff.cap(), 1000, "no overflow after many failures");
  backoff.reset();
  assert.equal(backoff.cap(), 100);
  const zero = new Backoff({}, () => 0);
  assert.equal(zero.next(), 0);
  assert.throws(() => new Backoff({ initialMs: 0 }));
});

test("cids are plain, short and distinct", () => {
  const cids = new Set(Array.from({ length: 1000 }, () => newCid()));
  assert.equal(cids.size, 1000);
  for (const cid of cids) assert.match(cid, /^[a-z0-9]{1,24}$/);
});

test("base64 of UTF-8 matches the platform's", () => {
  for (const text of ["", "a", "ab", "abc", "holiday.jpg", "照片 ü.png"]) {
    assert.equal(base64Utf8(text), Buffer.from(text, "utf8").toString("base64"));
  }
});

test("conversation summary: unread counts only live news from others, not on screen", async () => {
  const { summarize, mergeConversation, sortConversations, totalUnread } = await import("../src/core/convlist.js");
  const conv = { id: "c1", last_seq: 3, read_seq: 3, unread: 0 };
  const from = (seq, who, extra = {}) => msg(seq, "c1", { from: who, ...extra });
  const ctx = { me: "me", live: true, viewing: false };
  assert.equal(summarize(conv, from(4, "bob"), ctx), true);
  assert.equal(conv.unread, 1);
  summarize(conv, from(5, "bob", { mentions: ["me"] }), ctx);
  assert.deepEqual([conv.unread, conv.mentioned], [2, true]);
  summarize(conv, from(6, "bob", { kind: "system", body: {} }), ctx);
  summarize(conv, from(7, "bob", { kind: "recall", body: { seq: 4 } }), ctx);
  summarize(conv, from(8, "bob"), { ...ctx, live: false });
  summarize(conv, from(9, "bob"), { ...ctx, viewing: true });
  assert.equal(conv.unread, 2, "notices, recalls, catch-up and what is on screen do not count");
  assert.equal(summarize(conv, from(9, "bob"), ctx), false, "an old message changes nothing");
  summarize(conv, from(10, "me"), ctx);
  assert.deepEqual([conv.unread, conv.mentioned, conv.read_seq, conv.last_seq], [0, false, 10, 10], "our message reads all before it");
  summarize(conv, from(11, "me", { kind: "edit", body: { seq: 10, text: "fixed" } }), ctx);
  assert.equal(conv.last_message.body.text, "fixed", "an edit of the last message shows in the preview");

  const merged = mergeConversation(conv, { id: "c1", last_seq: 2, last_message: from(2, "bob"), title: "t" });
  assert.deepEqual([merged.last_seq, merged.last_message.seq, merged.title], [11, 10, "t"], "a stale list item does not roll back");

  const list = [{ id: "a", last_ts: 1, unread: 2 }, { id: "b", last_ts: 5, unread: 1, muted: true }, { id: "c", last_ts: 0, pinned: true, unread: 3 }];
  assert.deepEqual(sortConversations(list, (c) => c.last_ts).map((c) => c.id), ["c", "b", "a"]);
  assert.equal(totalUnread(list), 5, "muted conversations are not counted");
});

test("device names: a label people read, then a random part; the platform without one", () => {
  assert.match(newDeviceId("web", "Chrome on Linux"), /^Chrome on Linux · [a-z2-7]{13}$/);
  assert.match(newDeviceId("web"), /^web-[a-z2-7]{13}$/);
  assert.match(newDeviceId("web", " \u0007 "), /^web-/, "nothing readable left: no label");
  const long = newDeviceId("web", "x".repeat(200));
  assert.ok(long.length <= 64, "within the server's 64 characters");
});

test("receipts from the endpoint seed the ticks of everything up to that message", () => {
  const events = [];
  const storage = new MemoryStorage();
  const peers = new Peers({
    api: null, me: { id: "me" }, marksKey: "marks", send: () => true, emit: (e, p) => events.push([e, p]),
    hasPresence: () => false, storage, marks: {},
  });
  assert.equal(peers.tickFor("c1", 5), "sent");
  assert.equal(peers.seed("c1", 5, { read: 0, delivered: 1, read_by: [], delivered_to: ["bob"] }), true);
  assert.equal(peers.tickFor("c1", 4), "delivered");
  assert.equal(peers.tickFor("c1", 6), "sent");
  assert.equal(peers.seed("c1", 3, { read: 1, delivered: 1, read_by: ["bob"], delivered_to: ["bob"] }), true);
  assert.equal(peers.tickFor("c1", 3), "read");
  assert.equal(peers.tickFor("c1", 5), "delivered");
  assert.equal(peers.seed("c1", 3, { read: 1, delivered: 1, read_by: ["bob"], delivered_to: ["bob"] }), false, "nothing new");
  // A large group names nobody: the counts still say someone read it.
  peers.seed("c2", 9, { read: 2, delivered: 5 });
  assert.equal(peers.tickFor("c2", 9), "read");
  assert.deepEqual(events.map(([e]) => e), ["receipts", "receipts", "receipts"]);
  assert.ok(JSON.parse(storage.getItem("marks")).c1.bob.read === 3, "kept for the next start");
});

test("reactions fold into their target by the entry's count; pins follow pin, unpin, recall", async () => {
  const { applyPinEntry } = await import("../src/core/marks.js");
  const timeline = new Timeline("c1", "me");
  timeline.reset([msg(1)], false);
  const react = (seq, from, emoji, on, count) => msg(seq, "c1", { from, kind: "react", body: { seq: 1, emoji, on, count } });
  timeline.push(react(2, "u2", "👍", true, 1));
  timeline.push(react(3, "me", "👍", true, 2));
  timeline.push(react(4, "me", "🎉", true, 1));
  timeline.push(react(5, "u2", "👍", false, 1));
  assert.deepEqual(timeline.get(1).reactions, [{ emoji: "👍", count: 1, mine: true }, { emoji: "🎉", count: 1, mine: true }]);
  timeline.push(react(6, "me", "🎉", false, 0));
  assert.deepEqual(timeline.get(1).reactions, [{ emoji: "👍", count: 1, mine: true }]);
  assert.deepEqual(seqs(timeline.visible()), [1]);

  let pins = applyPinEntry([], msg(7, "c1", { kind: "pin", body: { seq: 1 } }), timeline.get(1));
  pins = applyPinEntry(pins, msg(8, "c1", { kind: "pin", body: { seq: 2 } }), undefined);
  assert.deepEqual(pins.map((p) => p.seq), [2, 1]);
  pins = applyPinEntry(pins, msg(9, "c1", { kind: "recall", body: { seq: 2 } }), undefined);
  pins = applyPinEntry(pins, msg(10, "c1", { kind: "unpin", body: { seq: 1 } }), undefined);
  assert.deepEqual(pins, []);
});
