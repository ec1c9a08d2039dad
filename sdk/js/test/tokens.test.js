// Integration: access tokens that expire every few seconds are refreshed (rotating the refresh
// token) while the client keeps chatting over REST and the socket.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { Server, waitFor } from "./support/server.js";
import { newUser, texts } from "./support/users.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server({ env: { PIGEON_ACCESS_TOKEN_TTL_S: "10" } }).start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("short-lived tokens are rotated without interrupting the chat", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop());
  const conv = await alice.client.openDirect(bob.user.id);
  const first = alice.api.auth;
  alice.client.sendText(conv.id, "before expiry");
  await waitFor(() => alice.api.auth.refresh_token !== first.refresh_token, { what: "a refresh" });
  await waitFor(() => Date.now() > first.expires_at + 500, { what: "the first token to expire", everyMs: 200 });
  alice.client.sendText(conv.id, "after expiry");
  await waitFor(() => texts(bob.messages, conv.id).includes("after expiry"), { what: "bob gets the later message" });
  const page = await alice.client.history(conv.id);
  assert.deepEqual(page.items.map((m) => m.body.text), ["before expiry", "after expiry"], "REST works on the new token");
  assert.equal(alice.client.outbox.items.length, 0);
  assert.ok(alice.client.online);
});

test("a login revoked elsewhere ends in authlost, not in endless reconnects", async () => {
  const { Api, nodeAdapter } = await import("../src/node.js");
  const { PASSWORD } = await import("./support/server.js");
  const alice = await newUser(server);
  cleanups.push(() => alice.client.stop());
  let lost = 0;
  alice.client.on("authlost", () => (lost += 1));
  const other = new Api(nodeAdapter(), { baseUrl: server.baseUrl });
  await other.login(alice.user.username, PASSWORD);
  cleanups.push(() => other.close());
  await other.delete(`/users/me/devices/${encodeURIComponent(alice.api.auth.device)}`);
  await waitFor(() => lost === 1, { what: "authlost" });
  assert.equal(alice.client.connState, "idle", "the link stopped");
  assert.equal(alice.api.auth, null, "the dead login is forgotten");
});
