// The WebSocket link: auth frame first, heartbeat, request/reply by rid, and reconnect with
// exponential backoff and full jitter. It knows frames, not chats: the client listens.

const NEEDS_NEW_TOKEN = new Set([4001, 4002, 4003]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 20_000;
const REQUEST_TIMEOUT_MS = 15_000;

export class Socket {
  /**
   * @param {string} url       the ws:// address from /api/v1/config
   * @param {object} api       gives `token`, `auth.device` and `refresh()`
   * @param {object} handlers  onState(state, detail), onReady(ready), onFrame(frame), onAuthLost()
   */
  constructor(url, api, handlers) {
    this.url = url;
    this.api = api;
    this.handlers = handlers;
    this.state = "idle";
    this.ws = null;
    this.attempt = 0;
    this.rid = 0;
    this.pending = new Map();
    this.retryAt = 0;
    this.stopped = true;
    this._retryTimer = null;
    this._heartbeat = null;
    this._lastFrameAt = 0;
    this._onOnline = () => this.connectNow();
    this._onOffline = () => this._drop("browser offline");
    this._onVisible = () => {
      if (document.visibilityState === "visible" && this.state === "reconnecting") this.connectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
    document.addEventListener("visibilitychange", this._onVisible);
    this._open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    document.removeEventListener("visibilitychange", this._onVisible);
    clearTimeout(this._retryTimer);
    this._teardown(1000, "bye");
    this._setState("idle");
  }

  get online() {
    return this.state === "online" || this.state === "syncing";
  }

  _setState(state, detail = {}) {
    this.state = state;
    this.handlers.onState(state, detail);
  }

  _open() {
    clearTimeout(this._retryTimer);
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this._setState("offline");
      return;
    }
    this._setState(this.attempt === 0 ? "connecting" : "reconnecting", {});
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const device = this.api.auth ? this.api.auth.device : undefined;
      ws.send(JSON.stringify({ t: "auth", token: this.api.token, device, rid: "auth" }));
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this._lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this._route(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this._closed(event.code);
    };
    ws.onerror = () => {};
  }

  _route(frame) {
    if (frame.t === "ready") {
      this.attempt = 0;
      this._startHeartbeat(frame.heartbeat || 30);
      this._setState("syncing");
      this.handlers.onReady(frame);
      return;
    }
    if (frame.rid !== undefined && this.pending.has(frame.rid)) {
      const { resolve, reject, timer } = this.pending.get(frame.rid);
      this.pending.delete(frame.rid);
      clearTimeout(timer);
      if (frame.t === "error") reject(frame);
      else resolve(frame);
      return;
    }
    this.handlers.onFrame(frame);
  }

  async _closed(code) {
    this._teardown();
    if (this.stopped) return;
    if (NEEDS_NEW_TOKEN.has(code)) {
      try {
        await this.api.refresh();
      } catch (error) {
        if (error && error.status === 401) {
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
    if (navigator.onLine === false) {
      this._setState("offline");
      return;
    }
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = this.attempt === 0 ? 200 + Math.random() * 300 : Math.random() * ceiling + 250;
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this._setState("reconnecting", { retryAt: this.retryAt });
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  /** Skip the rest of the backoff wait (the user clicked retry, or the network came back). */
  connectNow() {
    if (this.stopped || this.online || (this.ws && this.ws.readyState === WebSocket.CONNECTING)) return;
    this.attempt = Math.min(this.attempt, 1);
    this._open();
  }

  /** Drop the connection as if the network failed; reconnects unless the browser is offline. */
  _drop(reason) {
    if (!this.ws) {
      if (navigator.onLine === false) this._setState("offline");
      return;
    }
    this._teardown(4000, reason);
    this._scheduleRetry();
  }

  _teardown(code = 1000, reason = "") {
    clearInterval(this._heartbeat);
    this._heartbeat = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(code >= 4000 || code === 1000 ? code : 1000, reason);
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

  /** Ping every heartbeat; a link silent for two heartbeats is dead even if TCP says not. */
  _startHeartbeat(seconds) {
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

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send a frame with a rid and wait for its reply (an `error` reply rejects). */
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
