// A real `pigeon serve` process for the integration tests: started on a free port with its own
// data directory, restartable on the same port (SIGKILL, as in a crash), stopped at the end.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "../../../..");

/** The Python that has pigeon installed: PIGEON_PYTHON, else the repository's venv. */
export function python() {
  return process.env.PIGEON_PYTHON || join(REPO, ".venv", "bin", "python");
}

const TEST_ENV = {
  PIGEON_JWT_SECRET: "test-secret-" + "x".repeat(40),
  PIGEON_ARGON2_TIME_COST: "1",
  PIGEON_ARGON2_MEMORY_KIB: "256",
  PIGEON_AUTH_RATE_PER_MIN: "100000",
  PIGEON_LOG_LEVEL: "INFO",
};

/** Wait for a condition, polling; generous bounds because the machine may be busy. */
export async function waitFor(check, { timeoutMs = 60_000, everyMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class Server {
  /** @param {{env?: Record<string, string>}} [options]  extra PIGEON_* settings */
  constructor({ env = {} } = {}) {
    this.env = env;
    this.dataDir = mkdtempSync(join(tmpdir(), "pigeon-js-"));
    this.port = 0;
    this.proc = null;
    this.log = "";
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const args = ["-m", "pigeon", "serve", "--host", "127.0.0.1", "--port", String(this.port), "--data-dir", this.dataDir];
    const proc = spawn(python(), args, { env: { ...process.env, ...TEST_ENV, ...this.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    let buffered = "";
    let port = 0;
    let exited = null;
    const onData = (chunk) => {
      const text = chunk.toString();
      this.log += text;
      buffered += text;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const event = JSON.parse(line);
          if (event.event === "listening") port = Number(event.port);
        } catch {
          // not a JSON log line
        }
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => {
      exited = code;
    });
    await waitFor(() => {
      if (exited !== null) throw new Error(`server exited with ${exited}:\n${this.log.slice(-4000)}`);
      return port;
    }, { what: "the server to listen", everyMs: 50 });
    this.port = port;
    return this;
  }

  /** SIGKILL: nothing of the shutdown path runs. */
  async kill() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const gone = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await gone;
  }

  async restart() {
    await this.kill();
    return this.start();
  }

  async stop() {
    const proc = this.proc;
    if (proc && proc.exitCode === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

let counter = 0;
/** A fresh user name (server rule: 3-32 of a-z 0-9 _ . -). */
export function uniqueName(prefix = "js") {
  counter += 1;
  return `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${counter}`.slice(0, 32);
}

export const PASSWORD = "correct horse battery";
