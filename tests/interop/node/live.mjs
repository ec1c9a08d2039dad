// A live Protobuf client: a Pigeon user talking to a real server over a WebSocket with the
// subprotocol pigeon.v1.proto, in binary Envelopes built by protobufjs from the .proto
// file (envelope.mjs), with no Python code involved. It plays one user of a direct
// conversation whose other member is driven from Python:
//
//   auth → ready; send a text → ack; wait for the peer's msg push and reply to it → ack;
//   send a custom message (its body is JSON text in Body.json) → ack; sync from no cursor;
//   pull the history; a malformed binary frame and a text frame each → error 40001; and
//   a ping afterwards → pong, so the connection survived both.
//
// stdin:  {"url", "token", "conv", "wait_ms", "say": {hello, reply, card}}: where to connect,
//         as whom, the conversation, how long any one expected frame may take before the
//         run fails, and what to write (two texts and the custom body)
// stdout: one JSON object: every reply and push it saw, in the JSON view of frames
// Any failure: a message on stderr and exit status 1.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { SUBPROTOCOL, commandToEnvelope, envelopeToFrame } from "./envelope.mjs";

// Bytes that are no Envelope: field 3 (auth) announces 127 bytes that never come.
const MALFORMED = Buffer.from([0x1a, 0x7f]);

/** One WebSocket; frames nobody waited for yet wait in a backlog, in arrival order. */
class Link {
  constructor(ws, waitMs) {
    this.ws = ws;
    this.waitMs = waitMs;
    this.backlog = [];
    this.waiters = [];
    this.textMessages = 0;
    this.binaryMessages = 0;
    this.nextRid = 1;
    ws.on("message", (data, isBinary) => this.arrived(data, isBinary));
    ws.on("close", (code) => this.failAll(new Error(`the server closed the socket: ${code}`)));
  }

  arrived(data, isBinary) {
    if (!isBinary) {
      // On a Protobuf connection every server frame is binary; count what is not.
      this.textMessages += 1;
      return;
    }
    this.binaryMessages += 1;
    const frame = envelopeToFrame(data);
    const waiter = this.waiters.find((w) => w.matches(frame));
    if (waiter) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
    } else {
      this.backlog.push(frame);
    }
  }

  failAll(error) {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.closedWith = error;
  }

  /** The first frame (backlog first) that `matches`; fails after waitMs. */
  next(matches, what) {
    const index = this.backlog.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.backlog.splice(index, 1)[0]);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const waiter = { matches, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const seen = JSON.stringify(this.backlog);
        reject(new Error(`no ${what} within ${this.waitMs} ms; backlog ${seen}`));
      }, this.waitMs);
      this.waiters.push(waiter);
    });
  }

  send(command) {
    this.ws.send(commandToEnvelope(command), { binary: true });
  }

  sendRaw(data, binary) {
    this.ws.send(data, { binary });
  }

  /** Send `command` with a rid (integers and strings alternate) and await its reply. */
  async request(command, expected) {
    const n = this.nextRid++;
    const rid = n % 2 ? n : `r${n}`;
    this.send({ ...command, rid });
    const reply = await this.next((f) => f.rid === rid, `reply to ${command.t} (rid ${rid})`);
    if (reply.t !== expected) throw new Error(`${command.t} got ${JSON.stringify(reply)}`);
    return reply;
  }
}

function open(url, waitMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], { handshakeTimeout: waitMs });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function send(conv, cid, kind, body, extra = {}) {
  return { t: "send", cid, conv, kind, body, ...extra };
}

async function talk(link, conv, say) {
  const seen = { subprotocol: link.ws.protocol };
  seen.ready = await link.request({ t: "auth", token: link.token }, "ready");
  // Any frame counts as activity; ping at half the heartbeat while waiting on the peer.
  const keepAlive = setInterval(() => link.send({ t: "ping" }), seen.ready.heartbeat * 500);
  try {
    const hello = await link.request(send(conv, "node-hello", "text", { text: say.hello }), "ack");
    const push = await link.next((f) => f.t === "msg" && f.conv === conv, "msg push from the peer");
    const reply = await link.request(
      send(conv, "node-reply", "text", { text: say.reply }, { reply_to: push.seq }),
      "ack",
    );
    // A custom body goes as JSON text in Body.json (envelope.mjs), kept exactly as given.
    const card = await link.request(send(conv, "node-card", "custom", say.card), "ack");
    seen.acks = [hello, reply, card];
    seen.pushes = [push];
    seen.sync = await link.request({ t: "sync" }, "sync");
    seen.messages = await link.request({ t: "pull", conv, after: 0, limit: 100 }, "messages");

    link.sendRaw(MALFORMED, true);
    seen.malformed_binary = await link.next((f) => f.t === "error", "error for malformed bytes");
    link.sendRaw(JSON.stringify({ t: "ping" }), false);
    seen.text_frame = await link.next((f) => f.t === "error", "error for a text frame");
    seen.after_errors = await link.request({ t: "ping" }, "pong");
  } finally {
    clearInterval(keepAlive);
  }
  // Pushes nobody asked for (pongs of the keep-alive, receipts): kept for the report.
  seen.other_frames = link.backlog.filter((f) => f.t !== "pong");
  seen.text_messages = link.textMessages;
  seen.binary_messages = link.binaryMessages;
  return seen;
}

async function main() {
  const { url, token, conv, wait_ms: waitMs, say } = JSON.parse(readFileSync(0, "utf8"));
  const ws = await open(url, waitMs);
  const link = new Link(ws, waitMs);
  link.token = token;
  try {
    const seen = await talk(link, conv, say);
    process.stdout.write(JSON.stringify(seen));
  } finally {
    ws.close(1000);
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
