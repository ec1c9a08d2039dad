// The WebSocket link: auth frame first, heartbeat, request/reply by rid, and reconnect with
// exponential backoff and full jitter (a new token first after 4001/4002/4003). After 4011 a
// newer socket of the same user has taken this one's place: the link stops in the
// "displaced" state instead of reconnecting, which would only push the newer socket out in
// turn. It knows frames, not chats: the client listens. Network and foreground events from
// the adapter skip the rest of a backoff wait.

import { Backoff } from "./backoff.js";

/** Close codes after which the access token must be renewed before reconnecting. */
export const NEEDS_NEW_TOKEN = new Set([4001, 4002, 4003]);
/** Close codes after which the link must not reconnect by itself (4011: displaced). */
export const ENDS_SESSION = new Set([4011]);
const REQUEST_TIMEOUT_MS = 15_000;

/** @typedef {"idle" | "connecting" | "reconnecting" | "offline" | "syncing" | "online" | "displaced"} LinkState */

/**
 * @typedef {object} LinkHandlers
 * @property {(state: LinkState, detail: {retryAt?: number}) => void} onState
 * @property {(ready: Record<string, any>) => void} onReady
 * @property {(frame: Record<string, any>) => void} onFrame
 * @property {() => void} onAuthLost
 * @property {(code: number) => void} [onDisplaced]
 */

export class Link {
  /**
   * @param {string} url  the ws_url from /api/v1/config
   * @param {import("./rest.js").Api} api  gives the token, the device and refresh()
   * @param {LinkHandlers} handlers
   * @param {{backoff?: Partial<import("./backoff.js").BackoffPolicy>}} [options]
   */
  constructor(url, api, handlers, options = {}) {
    this.url = url;
    this.api = api;
    this.adapter = api.adapter;
    this.handlers = handlers;
    /** @type {LinkState} */
    this.state = "idle";
    /** @type {import("./adapter.js").SocketHandle | null} */
    this.ws = null;
    this.opening = false;
    this.backoff = new Backoff(options.backoff);
    this.rid = 0;
    /** @type {Map<string, {resolve: (f: any) => void, reject: (e: any) => void, timer: any}>} */
    this.pending = new Map();
    this.retryAt = 0;
    this.stopped = true;
    /** @type {any} */
    this._retryTimer = null;
    /** @type {any} */
    this._heartbeat = null;
    this._lastFrameAt = 0;
    /** @type {Array<() => void>} */
    this._off = [];
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this._off = [
      this.adapter.onNetwork((online) => (online ? this.connectNow() : this._drop("network lost"))),
      this.adapter.onForeground(() => {
        if (this.state === "reconnecting" || this.state === "offline") this.connectNow();
        // A backgrounded socket may be dead without knowing it: probe it now.
        else if (this.online) this.request({ t: "ping" }, 10_000).catch(() => {});
      }),
    ];
    this._open();
  }

  stop() {
    this._halt();
    this._setState("idle");
  }

  /** Close the socket and stop reconnecting, leaving the state to the caller. */
  _halt() {
    this.stopped = true;
    for (const off of this._off) off();
    this._off = [];
    clearTimeout(this._retryTimer);
    this._teardown(1000, "bye");
  }

  get online() {
    return this.state === "online" || this.state === "syncing";
  }

  /** @param {LinkState} state @param {{retryAt?: number}} [detail] */
  _setState(state, detail = {}) {
    this.state = state;
    this.handlers.onState(state, detail);
  }

  _open() {
    clearTimeout(this._retryTimer);
    if (this.stopped) return;
    if (!this.adapter.isOnline()) {
      this._setState("offline");
      return;
    }
    this._setState(this.backoff.attempt === 0 ? "connecting" : "reconnecting");
    /** @type {import("./adapter.js").SocketHandle | null} */
    let ws = null;
    this.opening = true;
    try {
      ws = this.adapter.openSocket(this.url, {
        onOpen: () => {
          if (this.ws !== ws || !ws) return;
          this.opening = false;
          const device = this.api.auth ? this.api.auth.device : undefined;
          ws.send(JSON.stringify({ t: "auth", token: this.api.token, device, rid: "auth" }));
        },
        onMessage: (text) => {
          if (this.ws !== ws) return;
          this._lastFrameAt = Date.now();
          let frame;
          try {
            frame = JSON.parse(text);
          } catch {
            return;
          }
          if (frame && typeof frame === "object") this._route(frame);
        },
        onClose: (code) => {
          if (this.ws !== ws) return;
          this._closed(code);
        },
      });
    } catch {
      this.opening = false;
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
  }

  /** @param {Record<string, any>} frame */
  _route(frame) {
    if (frame.t === "ready") {
      this.backoff.reset();
      this._startHeartbeat(frame.heartbeat || 30);
      this._setState("syncing");
      this.handlers.onReady(frame);
      return;
    }
    const waiter = frame.rid !== undefined ? this.pending.get(frame.rid) : undefined;
    if (waiter) {
      this.pending.delete(frame.rid);
      clearTimeout(waiter.timer);
      if (frame.t === "error") waiter.reject(frame);
      else waiter.resolve(frame);
      return;
    }
    this.handlers.onFrame(frame);
  }

  /** @param {number} code */
  async _closed(code) {
    this._teardown();
    if (this.stopped) return;
    if (ENDS_SESSION.has(code)) {
      // start() takes the session back when the user asks to.
      this._halt();
      this._setState("displaced");
      if (this.handlers.onDisplaced) this.handlers.onDisplaced(code);
      return;
    }
    if (NEEDS_NEW_TOKEN.has(code)) {
      try {
        await this.api.refresh();
      } catch (error) {
        if (error && /** @type {any} */ (error).status === 401) {
          this.stop();
          this.handlers.onAuthLost();
          return;
        }
      }
    }
    this._scheduleRetry();
  }

  _scheduleRetry() {
    if (this.stopped) return;
    if (!this.adapter.isOnline()) {
      this._setState("offline");
      return;
    }
    // Never zero: a server that accepts and drops at once must not be hammered.
    const delay = 100 + this.backoff.next();
    this.retryAt = Date.now() + delay;
    this._setState("reconnecting", { retryAt: this.retryAt });
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  /** Skip the rest of the backoff wait (the user asked, or the network came back). */
  connectNow() {
    if (this.stopped || this.online || (this.ws && this.opening)) return;
    if (this.ws) this._teardown(4000, "reconnect");
    this.backoff.attempt = Math.min(this.backoff.attempt, 1);
    this._open();
  }

  /** Drop the connection as if the network failed; reconnects unless the platform is offline. */
  _drop(/** @type {string} */ reason) {
    if (!this.ws) {
      if (!this.adapter.isOnline()) this._setState("offline");
      return;
    }
    this._teardown(4000, reason);
    this._scheduleRetry();
  }

  /** Drop the socket and reconnect (after a failed sync, say). */
  reconnect(reason = "reconnect") {
    this._drop(reason);
  }

  _teardown(code = 1000, reason = "") {
    clearInterval(this._heartbeat);
    this._heartbeat = null;
    this.opening = false;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        // already closed
      }
    }
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject({ t: "error", code: 0, message: "disconnected" });
    }
    this.pending.clear();
  }

  /** Ping every heartbeat; a link silent for a few heartbeats is dead even if TCP says not. */
  _startHeartbeat(/** @type {number} */ seconds) {
    clearInterval(this._heartbeat);
    this._lastFrameAt = Date.now();
    const every = Math.max(2, seconds * 0.8) * 1000;
    this._heartbeat = setInterval(() => {
      if (Date.now() - this._lastFrameAt > every * 2.5) {
        this._drop("heartbeat lost");
        return;
      }
      this.send({ t: "ping" });
    }, every);
  }

  /** @param {Record<string, any>} frame @returns {boolean} whether it went out */
  send(frame) {
    if (!this.ws || this.opening) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Send a frame with a rid and wait for its reply (an `error` reply rejects).
   * @param {Record<string, any>} frame @param {number} [timeoutMs]
   * @returns {Promise<Record<string, any>>}
   */
  request(frame, timeoutMs = REQUEST_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const rid = `r${++this.rid}`;
      if (!this.send({ ...frame, rid })) {
        reject({ t: "error", code: 0, message: "not connected" });
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject({ t: "error", code: 0, message: "timeout" });
        this._drop("request timeout");
      }, timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
    });
  }

  markOnline() {
    if (this.state === "syncing") this._setState("online");
  }
}
