// Integration: with the server's ws_compression on, the Node adapter's `ws` socket offers
// permessage-deflate by itself (its perMessageDeflate default), and chatting works the same.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { Server, waitFor } from "./support/server.js";
import { newUser, texts } from "./support/users.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server({ env: { PIGEON_WS_COMPRESSION: "true" } }).start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("ws agrees permessage-deflate with the server by default", async () => {
  const ws = new WebSocket(server.baseUrl.replace(/^http/, "ws") + "/ws");
  cleanups.push(() => ws.terminate());
  await new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  assert.match(ws.extensions, /permessage-deflate/);
});

test("SDK users chat with long and short messages over compressed sockets", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop());
  const conv = await alice.client.openDirect(bob.user.id);
  const long = "compressible ".repeat(300);
  alice.client.sendText(conv.id, long);
  alice.client.sendText(conv.id, "hi");
  bob.client.sendText(conv.id, long + "back");
  await waitFor(() => texts(alice.messages, conv.id).length === 3 && texts(bob.messages, conv.id).length === 3, {
    what: "three messages on both sides",
  });
  assert.deepEqual(texts(bob.messages, conv.id).sort(), [long, long + "back", "hi"].sort());
});
