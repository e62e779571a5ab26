/**
 * Token buckets per key (a cluster, a subject): `perMinute` calls a minute, all of which may
 * come at once, refilled continuously. A key absent from the map has a full bucket, so keys
 * dropped to bound memory lose nothing but their debt.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(options: { perMinute: number; maxKeys?: number; now?: () => number }) {
    this.#capacity = options.perMinute;
    this.#perMs = options.perMinute / 60_000;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#capacity > 0;
  }

  /** Seconds until a call for `key` would be allowed; 0 when it is allowed now. */
  wait(key: string): number {
    if (!this.enabled) return 0;
    const tokens = this.#level(key);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#perMs / 1000);
  }

  /** Spends one call of `key`'s budget (call after `wait` said 0). */
  take(key: string): void {
    if (!this.enabled) return;
    const tokens = this.#level(key) - 1;
    this.#buckets.delete(key);
    this.#buckets.set(key, { tokens, at: this.#now() });
    if (this.#buckets.size > this.#maxKeys)
      this.#buckets.delete(this.#buckets.keys().next().value as string);
  }

  #level(key: string): number {
    const bucket = this.#buckets.get(key);
    if (!bucket) return this.#capacity;
    return Math.min(this.#capacity, bucket.tokens + (this.#now() - bucket.at) * this.#perMs);
  }
}
