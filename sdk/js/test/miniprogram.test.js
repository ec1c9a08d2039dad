// The example mini-program's page logic in Node, with a `wx` whose connectSocket, request and
// uploadFile are real sockets to a real `pigeon serve`: sign in, the conversation list, a chat
// with a Python SDK user, an image sent and previewed, and a server restart mid-conversation
// that loses and duplicates nothing.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Server, waitFor, uniqueName, PASSWORD } from "./support/server.js";
import { PythonPeer } from "./support/peer.js";
import { createWx } from "./support/wx.js";
import { MiniProgram, tap, input } from "./support/miniprogram.js";
import { makePng } from "./support/png.js";

let server;
let peer;
let mp;
const temp = mkdtempSync(join(tmpdir(), "pigeon-wx-"));

before(async () => {
  server = await new Server().start();
  peer = new PythonPeer(server.baseUrl);
});

after(async () => {
  if (mp) await mp.stop();
  if (peer) await peer.close();
  await server.stop();
  rmSync(temp, { recursive: true, force: true });
});

async function registerOverRest(username) {
  const response = await fetch(`${server.baseUrl}/api/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(response.status, 201);
}

const textsOf = (chat) => chat.data.rows.filter((r) => r.kind === "text").map((r) => r.text);

test("mini-program: sign in, list, chat with a Python user, image and preview, server restart", async () => {
  const pyName = uniqueName("py");
  const py = await peer.call("register", { username: pyName, password: PASSWORD });
  await peer.call("connect");
  const wxName = uniqueName("wx");
  await registerOverRest(wxName);

  const picture = join(temp, "photo.png");
  const png = makePng(800, 600);
  writeFileSync(picture, png);
  const wx = createWx({ chooseMediaPath: picture });
  mp = await new MiniProgram(wx).start(server.baseUrl);

  // Sign in.
  const login = await mp.open("/pages/login/login");
  login.onUsername(input(wxName));
  login.onPassword(input(PASSWORD));
  await login.submit();
  assert.equal(login.data.error, "");
  assert.equal(mp.lastNavigation(), "/pages/conversations/conversations");
  assert.ok(wx.getStorageSync("pigeon.auth"), "tokens kept in wx storage");

  // The list; find the Python user and open a chat.
  const list = await mp.open(mp.lastNavigation());
  await list.onSearch(input(pyName));
  assert.equal(list.data.people.length, 1);
  await list.startChat(tap({ id: py.id }));
  const chatUrl = mp.lastNavigation();
  assert.match(chatUrl, /^\/pages\/chat\/chat\?conv=/);
  const chat = await mp.open(chatUrl);
  const conv = chat.conv;
  await waitFor(() => chat.client.online, { what: "the wx client online" });

  // Chat both ways.
  chat.onInput(input("hello from the mini-program"));
  chat.send();
  await waitFor(() => peer.messages(conv).some((m) => m.body.text === "hello from the mini-program"), { what: "python receives" });
  await peer.call("send", { conv, text: "hello from python" });
  await waitFor(() => textsOf(chat).includes("hello from python"), { what: "the chat page shows python's reply" });
  assert.deepEqual(textsOf(chat), ["hello from the mini-program", "hello from python"]);
  await waitFor(() => list.data.items.some((i) => i.id === conv && i.preview === "hello from python"), { what: "the list shows the last message" });

  // An image: chosen, uploaded with progress, shown as a thumbnail, received, previewed.
  const progress = [];
  const setData = chat.setData;
  chat.setData = (patch, done) => {
    if (patch.upload) progress.push(patch.upload.progress);
    setData(patch, done);
  };
  const file = await chat.chooseImage();
  chat.setData = setData;
  assert.equal(progress.at(-1), 100, `upload progress shown: ${progress}`);
  assert.equal(chat.data.upload, null, "the progress line goes away");
  assert.ok(file && file.id, "uploaded");
  assert.deepEqual([file.width, file.height], [800, 600]);
  const imageRow = await waitFor(() => chat.data.rows.find((r) => r.kind === "image" && r.seq && r.thumb), { what: "the image row with its thumbnail" });
  const received = await waitFor(() => peer.messages(conv).find((m) => m.kind === "image"), { what: "python receives the image" });
  assert.equal(received.body.file_id, file.id);
  const thumbnail = await fetch(imageRow.thumb);
  assert.equal(thumbnail.status, 200);
  assert.match(thumbnail.headers.get("content-type"), /^image\//);
  await chat.preview(tap({ file: imageRow.fileId }));
  const shown = wx.record.previews.at(-1);
  assert.ok(shown.urls.includes(shown.current));
  const original = Buffer.from(await (await fetch(shown.current)).arrayBuffer());
  assert.ok(original.equals(png), "the previewed original is the sent picture");

  // Unread count in the list while the chat is closed.
  mp.close(chat);
  await peer.call("send", { conv, text: "are you there?" });
  await waitFor(() => list.data.items.find((i) => i.id === conv)?.unread === 1, { what: "unread badge" });

  // The server dies mid-conversation; the user keeps typing; it comes back.
  const chat2 = await mp.open(chatUrl);
  await waitFor(() => chat2.client.online, { what: "online again before the crash" });
  chat2.onInput(input("in flight 1"));
  chat2.send();
  await server.kill();
  for (const text of ["while down 1", "while down 2", "while down 3"]) {
    chat2.onInput(input(text));
    chat2.send();
  }
  wx.emitNetwork(false);
  wx.emitNetwork(true);
  await server.start();
  wx.emitAppShow(); // back to the foreground: reconnect now, then sync

  const mine = ["hello from the mini-program", "in flight 1", "while down 1", "while down 2", "while down 3"];
  await waitFor(() => mine.every((t) => peer.messages(conv).some((m) => m.body.text === t)), { what: "python gets every message typed" });
  // The reply is written once the outbox has drained, so its place in the conversation is known.
  await peer.call("send", { conv, text: "after the restart" });
  await waitFor(() => textsOf(chat2).includes("after the restart") && chat2.client.pendingFor(conv).length === 0, { what: "the chat settles" });
  const pyTexts = peer.messages(conv).filter((m) => m.kind === "text").map((m) => m.body.text);
  assert.deepEqual(pyTexts, mine, "python got each once, in order");
  const seqs = chat2.data.rows.map((r) => r.seq);
  assert.ok(seqs.every((s, i) => s > 0 && (i === 0 || s > seqs[i - 1])), `rows are stored messages in seq order: ${seqs}`);
  assert.equal(new Set(textsOf(chat2)).size, textsOf(chat2).length, "no duplicates on screen");
  assert.deepEqual(textsOf(chat2), ["hello from the mini-program", "hello from python", "are you there?", ...mine.slice(1), "after the restart"]);
  assert.ok(wx.record.sockets >= 2, "it reconnected over wx.connectSocket");
});
