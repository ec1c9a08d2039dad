// Integration: uploads with progress — an image round trip with its thumbnail (multipart) and a
// resumable tus upload whose bytes come back intact.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { Server, waitFor } from "./support/server.js";
import { newUser } from "./support/users.js";
import { makePng } from "./support/png.js";

let server;
const cleanups = [];

before(async () => {
  server = await new Server().start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await server.stop();
});

test("an image goes up with progress, arrives as a message, and has a thumbnail", async () => {
  const alice = await newUser(server);
  const bob = await newUser(server);
  cleanups.push(() => alice.client.stop(), () => bob.client.stop());
  const conv = await alice.client.openDirect(bob.user.id);
  const png = makePng(640, 400);
  const progress = [];
  const { file } = await alice.client.sendImage(conv.id, { name: "gradient.png", data: png }, {
    caption: "look",
    onProgress: (fraction) => progress.push(fraction),
  });
  assert.equal(file.mime, "image/png");
  assert.deepEqual([file.width, file.height], [640, 400]);
  assert.equal(progress.at(-1), 1);
  assert.ok(progress.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= progress[i - 1])), "progress only grows");

  const image = await waitFor(() => bob.messages.find((m) => m.conv === conv.id && m.kind === "image"), { what: "bob gets the image" });
  assert.deepEqual(image.body, { file_id: file.id, width: 640, height: 400, caption: "look" });
  const seen = await bob.client.fileInfo(image.body.file_id);
  const original = Buffer.from(await (await fetch(seen.url)).arrayBuffer());
  assert.ok(original.equals(png), "the original comes back byte for byte");
  const thumb = await fetch(seen.thumbnail_url);
  assert.equal(thumb.status, 200);
  assert.match(thumb.headers.get("content-type") || "", /^image\/(jpeg|png)/);
  assert.ok((await thumb.arrayBuffer()).byteLength > 0);
});

test("a resumable (tus) upload reports progress per chunk and stores the exact bytes", async () => {
  const alice = await newUser(server);
  cleanups.push(() => alice.client.stop());
  const data = randomBytes(2_500_000);
  const progress = [];
  const stored = await alice.client.upload({ name: "blob.bin", data }, { resumable: true, onProgress: (f) => progress.push(f) });
  assert.equal(stored.size, data.length);
  assert.equal(stored.name, "blob.bin");
  assert.ok(progress.length >= 3, `one report per 1 MiB chunk at least, got ${progress}`);
  const back = Buffer.from(await (await fetch(stored.url)).arrayBuffer());
  assert.ok(back.equals(data));
});
