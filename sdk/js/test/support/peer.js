// Drives test/support/peer.py: a Python SDK user in its own process.

import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { python, waitFor } from "./server.js";

const here = dirname(fileURLToPath(import.meta.url));

export class PythonPeer {
  /** @param {string} baseUrl */
  constructor(baseUrl) {
    this.proc = spawn(python(), [join(here, "peer.py"), baseUrl], { stdio: ["pipe", "pipe", "pipe"] });
    this.events = [];
    this.replies = new Map();
    this.stderr = "";
    this.next = 0;
    let buffered = "";
    this.proc.stdout.on("data", (chunk) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const value = JSON.parse(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        if (value.event) this.events.push(value);
        else this.replies.set(value.id, value);
      }
    });
    this.proc.stderr.on("data", (chunk) => {
      this.stderr += chunk.toString();
    });
  }

  /** Run one command and wait for its reply. */
  async call(op, args = {}) {
    const id = ++this.next;
    this.proc.stdin.write(JSON.stringify({ id, op, ...args }) + "\n");
    const reply = await waitFor(() => {
      if (this.proc.exitCode !== null) throw new Error(`peer exited: ${this.stderr}`);
      return this.replies.get(id);
    }, { what: `peer ${op}` });
    if (reply.error) throw new Error(`peer ${op}: ${reply.error}`);
    return reply.result;
  }

  messages(conv) {
    return this.events.filter((e) => e.event === "msg" && e.conv === conv);
  }

  async close() {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
    await gone;
    clearTimeout(timer);
  }
}
