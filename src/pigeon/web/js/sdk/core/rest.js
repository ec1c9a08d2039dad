// REST client: the {code, message, data} envelope, bearer tokens kept in the platform's
// storage, and rotation of the refresh token (one refresh at a time — per instance by a
// promise, across browser tabs by the adapter's lock, when it has one).

import { newDeviceId } from "./ids.js";
import { readJson, writeJson } from "./storage.js";

const REFRESH_EARLY_MS = 60_000;

export class ApiError extends Error {
  /**
   * @param {number} status  HTTP status, 0 for a network failure
   * @param {number} code    the envelope's code
   * @param {string} message
   * @param {any} [data]
   */
  constructor(status, code, message, data = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.data = data;
    /** @type {number | undefined} seconds, from Retry-After */
    this.retryAfter = undefined;
  }
}

/**
 * A user as every REST answer shapes it; `bot` is true for bot accounts (docs/bots.md).
 * @typedef {{id: string, username: string, display_name?: string, avatar?: string | null, bot?: boolean} & Record<string, any>} User
 */

/**
 * @typedef {object} Auth
 * @property {User} user
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {number} expires_at  ms since the epoch
 * @property {string} device
 * @property {string | null} session
 */

/** @param {import("./adapter.js").HttpResponse} response */
export function parseEnvelope(response) {
  /** @type {any} */
  let payload = null;
  try {
    payload = JSON.parse(response.text);
  } catch {
    payload = null;
  }
  const ok = response.status >= 200 && response.status < 300;
  if (ok && payload && payload.code === 0) return payload.data;
  const code = payload && typeof payload.code === "number" ? payload.code : response.status * 100;
  const message = (payload && payload.message) || `HTTP ${response.status}`;
  const error = new ApiError(response.status, code, message, payload ? payload.data : null);
  const retry = response.headers["retry-after"];
  if (retry) error.retryAfter = Number(retry);
  throw error;
}

/** @param {import("./adapter.js").HttpResponse} response */
function badCredentials(response) {
  try {
    return JSON.parse(response.text).code === 40101;
  } catch {
    return false;
  }
}

export class Api {
  /**
   * @param {import("./adapter.js").Adapter} adapter
   * @param {{baseUrl?: string, keyPrefix?: string, deviceLabel?: string}} [options]
   *   baseUrl: the server ("https://chat.example.com"); "" means the page's own origin;
   *   deviceLabel: what people call this installation ("Chrome on Linux"), the readable start
   *   of the device name it signs in with the first time
   */
  constructor(adapter, { baseUrl = "", keyPrefix = "pigeon", deviceLabel = "" } = {}) {
    this.adapter = adapter;
    this.deviceLabel = deviceLabel;
    this.storage = adapter.storage;
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.keys = { auth: `${keyPrefix}.auth`, device: `${keyPrefix}.device` };
    /** @type {Auth | null} */
    this.auth = this._loadAuth();
    /** @type {(error: ApiError | null) => void} */
    this.onAuthLost = () => {};
    /** @type {(auth: Auth) => void} */
    this.onAuthChange = () => {};
    /** @type {Promise<Auth> | null} */
    this._refreshing = null;
    /** @type {any} */
    this._timer = null;
    this._offStorage = adapter.onStorageChange ? adapter.onStorageChange(this.keys.auth, () => this._adoptStored()) : () => {};
    this._schedule();
  }

  get user() {
    return this.auth ? this.auth.user : null;
  }

  get token() {
    return this.auth ? this.auth.access_token : null;
  }

  /** Absolute URL of an API path ("/conversations" → base + "/api/v1/conversations"). */
  url(/** @type {string} */ path) {
    return `${this.baseUrl}/api/v1${path}`;
  }

  /** A stable id for this installation, so the server lists it as one device. */
  deviceId() {
    let id = this.storage.getItem(this.keys.device);
    if (!id) {
      id = newDeviceId(this.adapter.platform, this.deviceLabel);
      this.storage.setItem(this.keys.device, id);
    }
    return id;
  }

  /** @returns {Auth | null} */
  _loadAuth() {
    /** @type {any} */
    const value = readJson(this.storage, this.keys.auth, null);
    return value && value.access_token && value.refresh_token ? value : null;
  }

  /** @param {any} grant */
  _save(grant) {
    /** @type {Auth} */
    const auth = {
      user: grant.user,
      access_token: grant.access_token,
      refresh_token: grant.refresh_token,
      expires_at: Date.now() + grant.expires_in * 1000,
      device: grant.device || this.deviceId(),
      session: grant.session || null,
    };
    this.auth = auth;
    writeJson(this.storage, this.keys.auth, auth);
    this._schedule();
    this.onAuthChange(auth);
  }

  _adoptStored() {
    const stored = this._loadAuth();
    if (!stored) {
      if (this.auth) {
        this.auth = null;
        this.onAuthLost(null);
      }
      return;
    }
    if (!this.auth || stored.refresh_token !== this.auth.refresh_token) {
      this.auth = stored;
      this._schedule();
      this.onAuthChange(stored);
    }
  }

  _schedule() {
    clearTimeout(this._timer);
    if (!this.auth) return;
    const wait = Math.max(5_000, this.auth.expires_at - Date.now() - REFRESH_EARLY_MS);
    this._timer = setTimeout(() => this.refresh().catch(() => {}), Math.min(wait, 2 ** 31 - 1));
    // A pending refresh must not keep a Node process alive on its own.
    if (this._timer && typeof this._timer.unref === "function") this._timer.unref();
  }

  /** Forget the login locally (tokens and the refresh timer). */
  clear() {
    clearTimeout(this._timer);
    this.auth = null;
    this.storage.removeItem(this.keys.auth);
  }

  /** Stop timers and listeners (the login stays stored). */
  close() {
    clearTimeout(this._timer);
    this._offStorage();
  }

  /**
   * Trade the refresh token for a new pair. A spent token replayed revokes the whole login,
   * so only one refresh runs at a time, and an instance that finds a newer pair already
   * stored by another (a second tab) simply adopts it.
   * @returns {Promise<Auth>}
   */
  refresh() {
    if (this._refreshing) return this._refreshing;
    const spent = this.auth ? this.auth.refresh_token : null;
    const run = async () => {
      const stored = this._loadAuth();
      if (stored && stored.refresh_token !== spent && stored.expires_at - Date.now() > REFRESH_EARLY_MS) {
        this.auth = stored;
        this._schedule();
        return stored;
      }
      if (!stored) throw new ApiError(401, 40105, "signed out");
      const response = await this._fetch("POST", "/auth/refresh", { refresh_token: stored.refresh_token }, false);
      try {
        this._save(parseEnvelope(response));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          this.clear();
          this.onAuthLost(error);
        }
        throw error;
      }
      return /** @type {Auth} */ (this.auth);
    };
    const locked = this.adapter.lock ? this.adapter.lock("pigeon-refresh", run) : run();
    this._refreshing = locked.finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  /**
   * @param {string} method @param {string} path @param {any} body @param {boolean} auth
   * @returns {Promise<import("./adapter.js").HttpResponse>}
   */
  async _fetch(method, path, body, auth) {
    /** @type {Record<string, string>} */
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.auth) headers.Authorization = `Bearer ${this.auth.access_token}`;
    try {
      return await this.adapter.request({
        method,
        url: this.url(path),
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 0, "network");
    }
  }

  /**
   * One REST call; a 401 refreshes the token once and repeats the call.
   * @param {string} method @param {string} path @param {any} [body]
   * @param {{auth?: boolean, retried?: boolean}} [options]
   * @returns {Promise<any>} the envelope's data
   */
  async request(method, path, body, { auth = true, retried = false } = {}) {
    if (auth && this.auth && this.auth.expires_at - Date.now() < 5_000 && !retried) {
      await this.refresh().catch(() => {});
    }
    const response = await this._fetch(method, path, body, auth);
    // 40101 refuses a password the call carried (deleting the account), not the token.
    if (response.status === 401 && badCredentials(response)) return parseEnvelope(response);
    if (response.status === 401 && auth && this.auth && !retried) {
      await this.refresh();
      return this.request(method, path, body, { auth, retried: true });
    }
    if (response.status === 401 && auth) {
      /** @type {any} */
      let error = null;
      try {
        parseEnvelope(response);
      } catch (e) {
        error = e;
      }
      this.clear();
      this.onAuthLost(error);
      throw error;
    }
    return parseEnvelope(response);
  }

  /** @param {string} path */
  get(path) {
    return this.request("GET", path);
  }
  /** @param {string} path @param {any} [body] */
  post(path, body = {}) {
    return this.request("POST", path, body);
  }
  /** @param {string} path @param {any} body */
  patch(path, body) {
    return this.request("PATCH", path, body);
  }
  /** @param {string} path @param {any} [body] */
  put(path, body = {}) {
    return this.request("PUT", path, body);
  }
  /** @param {string} path */
  delete(path) {
    return this.request("DELETE", path);
  }

  /** The server's published config: ws_url, limits, features (no auth). */
  config() {
    return this.request("GET", "/config", undefined, { auth: false });
  }

  /** @param {string} username @param {string} password */
  async login(username, password) {
    const body = { username, password, device: this.deviceId() };
    this._save(await this.request("POST", "/auth/login", body, { auth: false }));
    return /** @type {Auth} */ (this.auth);
  }

  /**
   * Sign in as a bot with its token from `pigeon bot create` (docs/bots.md).
   * @param {string} token
   */
  async loginBot(token) {
    const body = { token, device: this.deviceId() };
    this._save(await this.request("POST", "/auth/bot", body, { auth: false }));
    return /** @type {Auth} */ (this.auth);
  }

  /** @param {string} username @param {string} password @param {string} [displayName] */
  async register(username, password, displayName) {
    /** @type {Record<string, string>} */
    const body = { username, password, device: this.deviceId() };
    if (displayName) body.display_name = displayName;
    this._save(await this.request("POST", "/auth/register", body, { auth: false }));
    return /** @type {Auth} */ (this.auth);
  }

  /**
   * Delete the signed-in account for good (docs/protocol.md, "Deleting an account").
   * A wrong password rejects with code 40101 and changes nothing; on success this
   * client is signed out.
   * @param {string} password
   */
  async deleteAccount(password) {
    await this.request("DELETE", "/users/me", { password });
    this.clear();
  }

  /**
   * The caller's data as a zip archive (docs/protocol.md, "Exporting your data").
   * Rejects with an ApiError as any call does (42920 with retryAfter: exported lately).
   * @returns {Promise<Uint8Array>}
   */
  async exportData() {
    const requestBytes = this.adapter.requestBytes;
    if (!requestBytes) throw new ApiError(0, 0, "data export is not supported on this platform");
    if (!this.auth) throw new ApiError(401, 40100, "not signed in");
    if (this.auth.expires_at - Date.now() < 5_000) await this.refresh().catch(() => {});
    /** @type {Record<string, string>} */
    const headers = { Authorization: `Bearer ${this.auth ? this.auth.access_token : ""}` };
    /** @type {import("./adapter.js").BytesResponse} */
    let response;
    try {
      response = await requestBytes.call(this.adapter, { method: "POST", url: this.url("/users/me/export"), headers });
    } catch {
      throw new ApiError(0, 0, "network");
    }
    if (response.status === 200) return response.bytes;
    return parseEnvelope({ status: response.status, headers: response.headers, text: new TextDecoder().decode(response.bytes) });
  }

  async logout() {
    try {
      if (this.auth) await this.request("POST", "/auth/logout", {}, { retried: true });
    } catch {
      // Signing out locally matters more than telling the server.
    } finally {
      this.clear();
    }
  }
}
