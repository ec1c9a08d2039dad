// Integration: message search from the SDK against a real server — CJK without word
// breaks, only conversations the caller reads, snippets as plain parts, paging, errors.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { Server, waitFor } from "./support/server.js";
import { newUser, texts } from "./support/users.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server().start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("searchMessages finds a two-character Chinese word only where the caller may read", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  const eve = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop(), () => eve.client.stop());
  const conv = await alice.client.openDirect(bob.user.id);
  bob.client.sendText(conv.id, "我们明天见 <b>");
  bob.client.sendText(conv.id, "今天不行");
  await waitFor(() => texts(alice.messages, conv.id).length === 2, { what: "both messages" });

  const found = await alice.client.searchMessages("明天");
  assert.equal(found.items.length, 1);
  const [hit] = found.items;
  assert.equal(hit.conv, conv.id);
  assert.equal(hit.from, bob.user.id);
  assert.deepEqual(hit.snippet, ["我们", "明天", "见 <b>"]);
  assert.equal(found.more, false);

  assert.equal((await eve.client.searchMessages("明天")).items.length, 0);
  assert.equal((await alice.client.searchMessages("天", { conv: conv.id })).items.length, 2);

  const first = await alice.client.searchMessages("天", { limit: 1 });
  assert.equal(first.more, true);
  const second = await alice.client.searchMessages("天", { limit: 1, cursor: first.cursor });
  assert.deepEqual([first.items[0].seq, second.items[0].seq], [2, 1]);

  await assert.rejects(alice.client.searchMessages("  "), (error) => error.code === 40050 && error.status === 400);
});
