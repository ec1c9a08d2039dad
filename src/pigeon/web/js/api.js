// REST client: the response envelope, bearer tokens kept in localStorage, rotation of the
// refresh token (one refresh at a time, across tabs), and uploads with progress.

const AUTH_KEY = "pigeon.auth";
const DEVICE_KEY = "pigeon.device";
const REFRESH_EARLY_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message, data = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

/** A stable id for this browser profile, so the server lists it as one device. */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const random = crypto.getRandomValues(new Uint8Array(6));
    id = "web-" + Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

function loadAuth() {
  try {
    const value = JSON.parse(localStorage.getItem(AUTH_KEY) || "null");
    return value && value.access_token && value.refresh_token ? value : null;
  } catch {
    return null;
  }
}

async function parse(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.ok && payload && payload.code === 0) return payload.data;
  const code = payload && typeof payload.code === "number" ? payload.code : response.status * 100;
  const message = (payload && payload.message) || response.statusText || "request failed";
  const error = new ApiError(response.status, code, message, payload ? payload.data : null);
  const retry = response.headers.get("Retry-After");
  if (retry) error.retryAfter = Number(retry);
  return Promise.reject(error);
}

export class Api {
  constructor() {
    this.auth = loadAuth();
    this.onAuthLost = () => {};
    this.onAuthChange = () => {};
    this._refreshing = null;
    this._timer = null;
    window.addEventListener("storage", (event) => {
      if (event.key === AUTH_KEY) this._adoptStored();
    });
    this._schedule();
  }

  get user() {
    return this.auth ? this.auth.user : null;
  }

  get token() {
    return this.auth ? this.auth.access_token : null;
  }

  _save(grant) {
    const auth = {
      user: grant.user,
      access_token: grant.access_token,
      refresh_token: grant.refresh_token,
      expires_at: Date.now() + grant.expires_in * 1000,
      device: grant.device || deviceId(),
      session: grant.session || null,
    };
    this.auth = auth;
    localStorage.setItem(AUTH_KEY, JSON.stringify(auth));
    this._schedule();
    this.onAuthChange(auth);
  }

  _adoptStored() {
    const stored = loadAuth();
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
  }

  clear() {
    clearTimeout(this._timer);
    this.auth = null;
    localStorage.removeItem(AUTH_KEY);
  }

  /**
   * Trade the refresh token for a new pair. A spent token replayed revokes the whole login,
   * so only one refresh runs at a time — per tab by a promise, across tabs by a Web Lock —
   * and a tab that finds a newer pair already stored by another tab simply adopts it.
   */
  refresh() {
    if (this._refreshing) return this._refreshing;
    const spent = this.auth ? this.auth.refresh_token : null;
    const run = async () => {
      const stored = loadAuth();
      if (stored && stored.refresh_token !== spent && stored.expires_at - Date.now() > REFRESH_EARLY_MS) {
        this.auth = stored;
        this._schedule();
        return stored;
      }
      if (!stored) throw new ApiError(401, 40105, "signed out");
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: stored.refresh_token }),
      });
      try {
        this._save(await parse(response));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          this.clear();
          this.onAuthLost(error);
        }
        throw error;
      }
      return this.auth;
    };
    const locked = navigator.locks ? navigator.locks.request("pigeon-refresh", run) : run();
    this._refreshing = locked.finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  async request(method, path, body, { auth = true, retried = false } = {}) {
    if (auth && this.auth && this.auth.expires_at - Date.now() < 5_000 && !retried) {
      await this.refresh().catch(() => {});
    }
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.auth) headers.Authorization = `Bearer ${this.auth.access_token}`;
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 0, "network");
    }
    if (response.status === 401 && auth && this.auth && !retried) {
      await this.refresh();
      return this.request(method, path, body, { auth, retried: true });
    }
    if (response.status === 401 && auth) {
      const error = await parse(response).catch((e) => e);
      this.clear();
      this.onAuthLost(error);
      throw error;
    }
    return parse(response);
  }

  get(path) {
    return this.request("GET", path);
  }
  post(path, body = {}) {
    return this.request("POST", path, body);
  }
  patch(path, body) {
    return this.request("PATCH", path, body);
  }
  put(path, body = {}) {
    return this.request("PUT", path, body);
  }
  delete(path) {
    return this.request("DELETE", path);
  }

  async login(username, password) {
    const body = { username, password, device: deviceId() };
    this._save(await this.request("POST", "/auth/login", body, { auth: false }));
    return this.auth;
  }

  async register(username, password, displayName) {
    const body = { username, password, device: deviceId() };
    if (displayName) body.display_name = displayName;
    this._save(await this.request("POST", "/auth/register", body, { auth: false }));
    return this.auth;
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

  /** Multipart upload with progress (fetch cannot report upload progress; XHR can). */
  upload(file, onProgress) {
    const send = (token) =>
      new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/v1/files");
        xhr.setRequestHeader("Authorization", `Bearer ${token}`);
        xhr.responseType = "json";
        xhr.upload.onprogress = (event) => {
          if (event.lengthComputable) onProgress(event.loaded / event.total);
        };
        xhr.onerror = () => reject(new ApiError(0, 0, "network"));
        xhr.onload = () => {
          const payload = xhr.response;
          if (xhr.status >= 200 && xhr.status < 300 && payload && payload.code === 0) {
            resolve(payload.data);
          } else {
            const code = payload && payload.code ? payload.code : xhr.status * 100;
            reject(new ApiError(xhr.status, code, (payload && payload.message) || xhr.statusText));
          }
        };
        const form = new FormData();
        form.append("file", file, file.name);
        xhr.send(form);
      });
    return send(this.token).catch(async (error) => {
      if (error.status !== 401) throw error;
      await this.refresh();
      return send(this.token);
    });
  }
}
