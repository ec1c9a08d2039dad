// Reconnect delays: exponential growth with full jitter, bounded (pure, no I/O).
//
// Full jitter (a delay drawn uniformly from [0, cap], the cap doubling per failed attempt)
// spreads the reconnects of many clients that lost the same server at the same moment, so a
// restarting node is not hit by all of them at once. Same policy as the Python SDK.

/**
 * @typedef {object} BackoffPolicy
 * @property {number} initialMs  cap of the first delay
 * @property {number} maxMs      the cap never exceeds this
 * @property {number} factor     growth of the cap per failure (>= 1)
 */

/** @type {BackoffPolicy} */
export const RECONNECT_POLICY = Object.freeze({ initialMs: 500, maxMs: 30_000, factor: 2 });

export class Backoff {
  /**
   * @param {Partial<BackoffPolicy>} [policy]
   * @param {() => number} [random]  uniform in [0, 1); injectable for tests
   */
  constructor(policy = {}, random = Math.random) {
    const merged = { ...RECONNECT_POLICY, ...policy };
    if (!(merged.initialMs > 0) || merged.maxMs < merged.initialMs || !(merged.factor >= 1)) {
      throw new RangeError("need 0 < initialMs <= maxMs and factor >= 1");
    }
    /** @type {BackoffPolicy} */
    this.policy = merged;
    this.random = random;
    this.attempt = 0;
  }

  /** The upper bound of the next delay, in ms. */
  cap() {
    const { initialMs, maxMs, factor } = this.policy;
    // Compare logarithms: factor ** attempt itself overflows after enough failures.
    if (this.attempt * Math.log(factor) >= Math.log(maxMs / initialMs)) return maxMs;
    return initialMs * factor ** this.attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next() {
    const delay = this.random() * this.cap();
    this.attempt += 1;
    return delay;
  }

  reset() {
    this.attempt = 0;
  }
}
