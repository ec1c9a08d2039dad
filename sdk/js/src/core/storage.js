// Small helpers over the adapter's synchronous key-value storage.

/**
 * @typedef {object} KeyValueStorage
 * @property {(key: string) => string | null} getItem
 * @property {(key: string, value: string) => void} setItem
 * @property {(key: string) => void} removeItem
 */

/**
 * @template T
 * @param {KeyValueStorage} storage
 * @param {string} key
 * @param {T} fallback
 * @returns {T}
 */
export function readJson(storage, key, fallback) {
  try {
    const value = JSON.parse(storage.getItem(key) || "null");
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

/** @param {KeyValueStorage} storage  @param {string} key  @param {unknown} value */
export function writeJson(storage, key, value) {
  storage.setItem(key, JSON.stringify(value));
}

/** A storage kept in memory only (tests, or a process that must not persist anything). */
export class MemoryStorage {
  constructor() {
    /** @type {Map<string, string>} */
    this.map = new Map();
  }
  /** @param {string} key */
  getItem(key) {
    return this.map.has(key) ? /** @type {string} */ (this.map.get(key)) : null;
  }
  /** @param {string} key @param {string} value */
  setItem(key, value) {
    this.map.set(key, String(value));
  }
  /** @param {string} key */
  removeItem(key) {
    this.map.delete(key);
  }
}
