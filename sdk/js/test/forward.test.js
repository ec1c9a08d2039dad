// Integration: forwarding from the SDK against a real server — the copy arrives live with
// its attribution, a retry with the same cid gives the first copy, a stranger gets not-found.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { Server, waitFor } from "./support/server.js";
import { newUser } from "./support/users.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server().start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("forward copies a message with its author and time, once per cid", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  const carol = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop(), () => carol.client.stop());
  const source = await alice.client.openDirect(bob.user.id);
  const target = await bob.client.openDirect(carol.user.id);
  alice.client.sendText(source.id, "worth passing on");
  await waitFor(() => bob.messages.some((m) => m.conv === source.id), { what: "the original" });
  const original = bob.messages.find((m) => m.conv === source.id);

  const ack = await bob.client.forward(source.id, original.seq, target.id, { cid: "fwd-js-1" });
  await waitFor(() => carol.messages.some((m) => m.conv === target.id), { what: "the copy" });
  const copy = carol.messages.find((m) => m.conv === target.id);
  assert.equal(copy.seq, ack.seq);
  assert.equal(copy.from, bob.user.id);
  assert.deepEqual(copy.body, { text: "worth passing on" });
  assert.deepEqual(copy.forwarded, { from: alice.user.id, ts: original.ts });

  const again = await bob.client.forward(source.id, original.seq, target.id, { cid: "fwd-js-1" });
  assert.equal(again.id, ack.id);
  await assert.rejects(
    carol.client.forward(source.id, original.seq, target.id),
    (error) => error.code === 40403 && error.status === 404,
  );
});
