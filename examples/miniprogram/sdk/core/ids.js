// Identifiers made on the client: cids and device ids. Plain lowercase base32 so they pass any
// server rule on characters; randomness from the platform when it has a CSPRNG.

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** @param {number} n  @returns {Uint8Array} */
export function randomBytes(n) {
  const bytes = new Uint8Array(n);
  // Some mini-program engines have neither globalThis nor crypto.
  const c = typeof crypto !== "undefined" ? /** @type {any} */ (crypto) : null;
  if (c && typeof c.getRandomValues === "function") return c.getRandomValues(bytes);
  // Mini-program runtimes may lack a synchronous CSPRNG; cids need uniqueness, not secrecy.
  for (let i = 0; i < n; i++) bytes[i] = Math.floor(Math.random() * 256);
  return bytes;
}

/** @param {Uint8Array} bytes */
export function base32(bytes) {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** A fresh client message id: time-ordered prefix, 80 random bits, 24 characters at most. */
export function newCid() {
  return `${Date.now().toString(36)}${base32(randomBytes(10))}`.slice(0, 24);
}

// Device names are at most 64 characters: the label, " · " and 13 random ones.
const MAX_LABEL = 48;

/**
 * A device name: "<label> · <random>" when the app gives a label people recognise (the server
 * lists devices by this name), else "<platform>-<random>".
 * @param {string} platform  e.g. "web", "node", "wx"
 * @param {string} [label]  e.g. "Chrome on Linux"
 */
export function newDeviceId(platform, label) {
  const random = base32(randomBytes(8));
  const clean = (label || "").replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, MAX_LABEL);
  return clean ? `${clean} · ${random}` : `${platform}-${random}`;
}


/** UTF-8 then base64 (tus Upload-Metadata), without relying on btoa or Buffer. */
export function base64Utf8(/** @type {string} */ text) {
  const bytes = new TextEncoder().encode(text);
  const table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += table[(n >> 18) & 63] + table[(n >> 12) & 63];
    out += i + 1 < bytes.length ? table[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? table[n & 63] : "=";
  }
  return out;
}
