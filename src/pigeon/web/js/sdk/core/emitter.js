// A tiny event emitter: a listener that throws is reported and does not stop the others.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this._listeners = new Map();
  }

  /**
   * @param {string} event
   * @param {(payload: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) {
      set = new Set();
      this._listeners.set(event, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @param {string} event  @param {any} [payload] */
  emit(event, payload) {
    for (const fn of this._listeners.get(event) || []) {
      try {
        fn(payload);
      } catch (error) {
        console.error(error);
      }
    }
  }

  removeAllListeners() {
    this._listeners.clear();
  }
}
