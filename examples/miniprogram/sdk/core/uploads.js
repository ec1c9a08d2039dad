// Uploads with progress: one multipart POST for small files (or where the platform has no
// PATCH, as in mini-programs), tus 1.0 for large ones, resuming from the server's offset
// after a dropped connection. Either way the result is the file object (docs/files.md).

import { Backoff } from "./backoff.js";
import { ApiError, parseEnvelope } from "./rest.js";
import { base64Utf8 } from "./ids.js";

/** Files at least this large go through tus when the adapter can. */
export const TUS_THRESHOLD = 4 * 1024 * 1024;
/** Bytes per tus PATCH. */
export const TUS_CHUNK = 1024 * 1024;
/** Failed PATCH/HEAD rounds in a row before giving up. */
const TUS_RETRIES = 8;

/**
 * @typedef {object} UploadOptions
 * @property {(fraction: number) => void} [onProgress]
 * @property {boolean} [resumable]  force tus (true) or multipart (false); default by size
 */

/**
 * @param {import("./rest.js").Api} api
 * @param {any} file  the platform's file (see the adapter)
 * @param {UploadOptions} [options]
 * @returns {Promise<Record<string, any>>} the file object
 */
export async function uploadFile(api, file, { onProgress = () => {}, resumable } = {}) {
  const files = api.adapter.files;
  let useTus = false;
  if (files) useTus = resumable ?? (await files.size(file)) >= TUS_THRESHOLD;
  const stored = useTus ? await tusUpload(api, file, onProgress) : await multipart(api, file, onProgress);
  onProgress(1);
  return stored;
}

/** @param {import("./rest.js").Api} api @param {any} file @param {(f: number) => void} onProgress */
async function multipart(api, file, onProgress) {
  const attempt = async () => {
    if (!api.auth) throw new ApiError(401, 40100, "not signed in");
    try {
      return await api.adapter.upload({
        url: api.url("/files"),
        headers: { Authorization: `Bearer ${api.auth.access_token}` },
        file,
        onProgress,
      });
    } catch {
      throw new ApiError(0, 0, "network");
    }
  };
  let response = await attempt();
  if (response.status === 401) {
    await api.refresh();
    response = await attempt();
  }
  return parseEnvelope(response);
}

/**
 * @param {import("./rest.js").Api} api @param {string} method @param {string} url
 * @param {Record<string, string>} headers @param {Uint8Array} [body]
 */
async function tusCall(api, method, url, headers, body) {
  const send = () => {
    if (!api.auth) throw new ApiError(401, 40100, "not signed in");
    const all = { ...headers, "Tus-Resumable": "1.0.0", Authorization: `Bearer ${api.auth.access_token}` };
    return api.adapter.request({ method, url, headers: all, body });
  };
  let response = await send();
  if (response.status === 401) {
    await api.refresh();
    response = await send();
  }
  return response;
}

/** @param {import("./rest.js").Api} api @param {any} file @param {(f: number) => void} onProgress */
async function tusUpload(api, file, onProgress) {
  const files = /** @type {import("./adapter.js").FileAccess} */ (api.adapter.files);
  const size = await files.size(file);
  const created = await tusCall(api, "POST", api.url("/uploads/"), {
    "Upload-Length": String(size),
    "Upload-Metadata": `filename ${base64Utf8(files.name(file))}`,
  });
  const { id } = parseEnvelope(created);
  const target = api.url(`/uploads/${encodeURIComponent(id)}`);
  let offset = 0;
  const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
  while (offset < size) {
    try {
      const chunk = await files.slice(file, offset, Math.min(size, offset + TUS_CHUNK));
      const response = await tusCall(api, "PATCH", target, {
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": String(offset),
      }, chunk);
      if (response.status !== 204) parseEnvelope(response);
      offset = Number(response.headers["upload-offset"]);
      backoff.reset();
      onProgress(size ? offset / size : 1);
    } catch (error) {
      // A 4xx other than an offset conflict will not get better by trying again.
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.code !== 40910) throw error;
      if (backoff.attempt >= TUS_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      offset = await tusOffset(api, target).catch(() => offset);
    }
  }
  return api.get(`/files/${encodeURIComponent(id)}`);
}

/** Where the server stands with an upload (HEAD). @param {import("./rest.js").Api} api @param {string} url */
async function tusOffset(api, url) {
  const response = await tusCall(api, "HEAD", url, {});
  if (response.status !== 200) throw new ApiError(response.status, response.status * 100, "upload offset unknown");
  return Number(response.headers["upload-offset"]);
}
