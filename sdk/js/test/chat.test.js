// Integration: SDK users (Node adapter) and a Python SDK user chat through a real server;
// typing, receipts, presence and the conversation list with unread counts.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { Server, waitFor } from "./support/server.js";
import { PythonPeer } from "./support/peer.js";
import { newUser, texts, ascending } from "./support/users.js";
import { uniqueName, PASSWORD } from "./support/server.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server().start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("two SDK users and a Python SDK user chat; each message once and in order", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop());
  const peer = new PythonPeer(server.baseUrl);
  cleanups.push(() => peer.close());
  const carol = await peer.call("register", { username: uniqueName("py"), password: PASSWORD });
  await peer.call("connect");

  // Alice ↔ Bob, both on the JS SDK.
  const ab = await alice.client.openDirect(bob.user.id);
  for (let i = 0; i < 5; i++) alice.client.sendText(ab.id, `a${i}`);
  for (let i = 0; i < 5; i++) bob.client.sendText(ab.id, `b${i}`);
  await waitFor(() => texts(alice.messages, ab.id).length === 10 && texts(bob.messages, ab.id).length === 10, { what: "ten messages on both sides" });
  assert.deepEqual(alice.messages.filter((m) => m.conv === ab.id).map((m) => m.seq), bob.messages.filter((m) => m.conv === ab.id).map((m) => m.seq));
  assert.ok(ascending(alice.messages, ab.id));
  assert.equal(alice.client.outbox.items.length, 0);

  // Alice ↔ Carol, Carol on the Python SDK.
  const ac = await alice.client.openDirect(carol.id);
  alice.client.sendText(ac.id, "hello from js");
  await waitFor(() => peer.messages(ac.id).some((m) => m.body.text === "hello from js"), { what: "python receives" });
  await peer.call("send", { conv: ac.id, text: "hello from python" });
  await waitFor(() => texts(alice.messages, ac.id).includes("hello from python"), { what: "js receives" });
  assert.deepEqual(texts(alice.messages, ac.id), ["hello from js", "hello from python"]);
  // The Python SDK reports its own send by the ack, not in its stream.
  assert.deepEqual(peer.messages(ac.id).map((m) => m.body.text), ["hello from js"]);
});

test("conversation list with unread counts, read receipts, typing, presence", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop());
  const conv = await alice.client.openDirect(bob.user.id);
  alice.client.sendText(conv.id, "one");
  alice.client.sendText(conv.id, "two");
  await waitFor(() => bob.client.convs.get(conv.id)?.unread === 2, { what: "bob's unread count" });
  assert.equal(bob.client.totalUnread(), 2);
  assert.equal(bob.client.sortedConversations()[0].id, conv.id);

  bob.client.markRead(conv.id);
  assert.equal(bob.client.convs.get(conv.id).unread, 0);
  const lastSeq = bob.client.convs.get(conv.id).last_seq;
  await waitFor(() => alice.client.tickFor(conv.id, lastSeq) === "read", { what: "alice sees the read receipt" });

  bob.client.setTyping(conv.id, true);
  await waitFor(() => alice.client.typers(conv.id).includes(bob.user.id), { what: "typing shows" });
  bob.client.setTyping(conv.id, false);
  await waitFor(() => !alice.client.typers(conv.id).includes(bob.user.id), { what: "typing stops" });

  // Presence is shown to a direct peer once the watched user has written there.
  bob.client.sendText(conv.id, "three");
  await waitFor(() => texts(alice.messages, conv.id).includes("three"), { what: "bob's reply" });
  await alice.client.refreshPresence([bob.user.id]);
  await waitFor(() => alice.client.presence.get(bob.user.id)?.online === true, { what: "bob online" });
});

test("coming back to the foreground syncs at once", async () => {
  const alice = await newUser(server);
  cleanups.push(() => alice.client.stop());
  const syncs = [];
  const request = alice.client.link.request.bind(alice.client.link);
  alice.client.link.request = (frame, timeout) => {
    if (frame.t === "sync") syncs.push(frame);
    return request(frame, timeout);
  };
  alice.adapter.signals.foreground();
  await waitFor(() => syncs.length === 1 && !alice.client._resyncing, { what: "a sync on foreground" });
  assert.ok(syncs[0].cursor, "from the saved cursor");
  assert.ok(alice.client.online);
});

test("reactions and pins: one reacts, the other's timeline and pin list follow live", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop());
  const conv = await alice.client.openDirect(bob.user.id);
  alice.client.sendText(conv.id, "react to this");
  await waitFor(() => texts(bob.messages, conv.id).includes("react to this"), { what: "bob has the message" });
  const seq = bob.messages.find((m) => m.conv === conv.id && m.body.text === "react to this").seq;
  await alice.client.loadLatest(conv.id);
  await bob.client.loadLatest(conv.id);
  await alice.client.loadPins(conv.id);
  const reactionsOf = (who) => who.client.timeline(conv.id).get(seq)?.reactions || [];

  bob.client.react(conv.id, seq, "👍");
  await waitFor(() => reactionsOf(alice).some((r) => r.emoji === "👍" && r.count === 1 && !r.mine), { what: "alice sees bob's 👍" });
  alice.client.react(conv.id, seq, "👍");
  await waitFor(() => reactionsOf(bob).some((r) => r.emoji === "👍" && r.count === 2 && r.mine), { what: "bob sees two" });
  bob.client.react(conv.id, seq, "👍"); // toggled off
  await waitFor(() => reactionsOf(alice).some((r) => r.emoji === "👍" && r.count === 1 && r.mine), { what: "back to alice's own" });
  const fresh = await alice.client.history(conv.id, { before: seq + 1, limit: 1 });
  assert.deepEqual(fresh.items[0].reactions, [{ emoji: "👍", count: 1, mine: true }]);
  assert.equal(alice.client.convs.get(conv.id).unread, 0);

  bob.client.pin(conv.id, seq);
  await waitFor(() => alice.client.pinsOf(conv.id).some((p) => p.seq === seq && p.by === bob.user.id), { what: "alice's pin list" });
  assert.equal(alice.client.pinsOf(conv.id)[0].message.body.text, "react to this");
  alice.client.unpin(conv.id, seq);
  await waitFor(() => alice.client.pinsOf(conv.id).length === 0, { what: "unpinned" });
});
