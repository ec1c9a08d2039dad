// File metadata with signed URLs, cached until shortly before the signature expires.

const cache = new Map();
const FALLBACK_TTL_MS = 5 * 60_000;

function expiryOf(url) {
  try {
    const exp = Number(new URL(url, location.href).searchParams.get("exp"));
    if (exp) return exp * 1000 - 30_000;
  } catch {
    // not a URL we can read; use the fallback
  }
  return Date.now() + FALLBACK_TTL_MS;
}

export function fileInfo(api, fileId) {
  const known = cache.get(fileId);
  if (known && known.until > Date.now()) return known.promise;
  const promise = api.get(`/files/${encodeURIComponent(fileId)}`);
  const entry = { promise, until: Date.now() + FALLBACK_TTL_MS };
  cache.set(fileId, entry);
  promise.then(
    (file) => {
      entry.until = expiryOf(file.url);
    },
    () => cache.delete(fileId),
  );
  return promise;
}

/** Remember a file we just uploaded, so our own bubble needs no round trip. */
export function rememberFile(file) {
  cache.set(file.id, { promise: Promise.resolve(file), until: expiryOf(file.url) });
}

/** Size an image box to fit max bounds while keeping its aspect ratio. */
export function fitBox(width, height, maxW = 320, maxH = 320) {
  if (!width || !height) return { width: 240, height: 180 };
  const scale = Math.min(1, maxW / width, maxH / height);
  return { width: Math.max(60, Math.round(width * scale)), height: Math.max(40, Math.round(height * scale)) };
}

export function imageSize(file) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      resolve({ width: img.naturalWidth, height: img.naturalHeight, url });
    };
    img.onerror = () => resolve({ width: 0, height: 0, url });
    img.src = url;
  });
}
