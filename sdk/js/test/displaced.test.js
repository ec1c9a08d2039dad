// Integration: a socket closed with 4011 (a newer socket of the same user took its place)
// stops reconnecting and says so, instead of pushing the newer socket out in turn.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { Server, waitFor } from "./support/server.js";
import { newUser } from "./support/users.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server({ env: { PIGEON_MAX_SOCKETS_PER_USER: "1" } }).start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

/** A plain WebSocket signed in with `token`; resolves once the server said `ready`. */
function rawSocket(token) {
  const ws = new WebSocket(server.baseUrl.replace(/^http/, "ws") + "/ws");
  const frames = [];
  const state = { ws, frames, closeCode: null };
  ws.on("message", (data) => frames.push(JSON.parse(data.toString())));
  ws.on("close", (code) => (state.closeCode = code));
  ws.on("open", () => ws.send(JSON.stringify({ t: "auth", token, rid: "auth" })));
  return waitFor(() => frames.some((f) => f.t === "ready") && state, { what: "ready on the raw socket" });
}

test("4011 leaves the client displaced, not reconnecting; connect() takes the session back", async () => {
  const alice = await newUser(server);
  cleanups.push(() => alice.client.stop());
  let displaced = null;
  alice.client.on("displaced", (code) => (displaced = code));

  const newer = await rawSocket(alice.api.token);
  cleanups.push(() => newer.ws.terminate());
  await waitFor(() => displaced !== null, { what: "the displaced event" });
  assert.equal(displaced, 4011);
  assert.equal(alice.client.connState, "displaced");
  assert.ok(alice.client.link.stopped, "no reconnect is scheduled");
  assert.equal(alice.client.link.ws, null);

  // The newer socket is left alone: it still answers.
  newer.ws.send(JSON.stringify({ t: "ping", rid: "p1" }));
  await waitFor(() => newer.frames.some((f) => f.t === "pong" && f.rid === "p1"), { what: "pong on the newer socket" });
  assert.equal(newer.closeCode, null);
  assert.equal(alice.client.connState, "displaced", "still not reconnecting");

  // The app (the user's click) takes the session back: now the other socket makes room.
  alice.client.connect();
  await waitFor(() => alice.client.online, { what: "back online" });
  await waitFor(() => newer.closeCode !== null, { what: "the other socket closed" });
  assert.equal(newer.closeCode, 4011);
});
