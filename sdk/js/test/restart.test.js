// Integration: the server is killed mid-conversation and restarted; an SDK client is also
// "restarted" (a new instance on the same stored state) while the server is down. Nothing
// typed is lost, nothing is stored or delivered twice, and each stream stays in seq order.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { Server, waitFor, uniqueName, PASSWORD } from "./support/server.js";
import { PythonPeer } from "./support/peer.js";
import { MemoryStorage } from "../src/node.js";
import { newUser, resumeUser, texts, ascending } from "./support/users.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server().start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("a server restart mid-conversation loses and duplicates nothing", async () => {
  const storage = new MemoryStorage();
  const alice = await newUser(server, { storage });
  cleanups.push(() => alice.client.stop());
  const peer = new PythonPeer(server.baseUrl);
  cleanups.push(() => peer.close());
  const bob = await peer.call("register", { username: uniqueName("py"), password: PASSWORD });
  await peer.call("connect");
  const conv = await alice.client.openDirect(bob.id);

  // Sends in flight while the server dies.
  for (let i = 0; i < 10; i++) alice.client.sendText(conv.id, `before-${i}`);
  await server.kill();
  await waitFor(() => !alice.client.online, { what: "alice notices" });
  for (let i = 0; i < 5; i++) alice.client.sendText(conv.id, `offline-${i}`);

  // The app restarts too: a new client instance on the same storage, still offline.
  alice.client.stop();
  const again = await resumeUser(server, storage).catch(() => null);
  assert.equal(again, null, "config is unreachable while the server is down");
  await server.start();
  const alice2 = await resumeUser(server, storage);
  cleanups.push(() => alice2.client.stop());
  assert.equal(alice2.client.outbox.items.length >= 5, true, "the outbox was kept in storage");
  await alice2.client.start();
  alice2.client.sendText(conv.id, "after");

  const expected = [...Array.from({ length: 10 }, (_, i) => `before-${i}`), ...Array.from({ length: 5 }, (_, i) => `offline-${i}`), "after"];
  await waitFor(() => peer.messages(conv.id).length >= expected.length, { what: "python gets everything" });
  await waitFor(() => alice2.client.outbox.items.length === 0, { what: "outbox drained" });
  const received = peer.messages(conv.id).map((m) => m.body.text);
  assert.deepEqual([...received].sort(), [...expected].sort(), "each message exactly once");
  assert.deepEqual(received.filter((t) => t.startsWith("before")), expected.slice(0, 10), "in send order");

  // And the other way: Bob writes across a second restart; Alice's stream stays exact.
  for (let i = 0; i < 3; i++) await peer.call("send", { conv: conv.id, text: `bob-${i}` });
  await server.restart();
  for (let i = 3; i < 6; i++) await peer.call("send", { conv: conv.id, text: `bob-${i}` });
  await waitFor(() => texts(alice2.messages, conv.id).filter((t) => t.startsWith("bob")).length === 6, { what: "alice gets bob's six" });
  assert.deepEqual(texts(alice2.messages, conv.id).filter((t) => t.startsWith("bob")), ["bob-0", "bob-1", "bob-2", "bob-3", "bob-4", "bob-5"]);
  assert.ok(ascending(alice2.messages, conv.id), "seq order, no repeats");
  const history = await alice2.client.history(conv.id, { limit: 100 });
  assert.equal(history.items.length, expected.length + 6, "stored once each");
});
