/**
 * Identical concurrent calls make one upstream call (Coalescer), and successful answers are kept
 * until shortly before they expire (ResponseCache). Both are keyed by a hash of everything that
 * determines the answer, never by a raw token.
 */

interface Entry<T> {
  value: T;
  expiresAt: number;
  bytes: number;
}

/** Bookkeeping per entry beyond its payload: the key, the map slot, the object. */
const ENTRY_OVERHEAD_BYTES = 160;

/** An LRU map bounded by the memory its entries take, whose entries also expire. */
export class ResponseCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxBytes: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(options: { maxBytes: number; now?: () => number }) {
    this.#maxBytes = options.maxBytes;
    this.#now = options.now ?? Date.now;
  }

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#drop(key, entry);
      return undefined;
    }
    // Most recently used last, so eviction takes the front.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Keeps `value` until `expiresAt` (epoch ms); `size` is its payload in bytes. */
  set(key: string, value: T, expiresAt: number, size: number): void {
    const bytes = size + key.length + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.#maxBytes || expiresAt <= this.#now()) return;
    const previous = this.#entries.get(key);
    if (previous) this.#drop(key, previous);
    this.#entries.set(key, { value, expiresAt, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#drop(oldest, entry);
    }
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  #drop(key: string, entry: Entry<T>): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

/** One call per key at a time; callers arriving while it runs share its outcome. */
export class Coalescer<T> {
  readonly #inflight = new Map<string, Promise<T>>();

  /** `shared` is true for callers that joined a call already running. */
  run(key: string, call: () => Promise<T>): { result: Promise<T>; shared: boolean } {
    const running = this.#inflight.get(key);
    if (running) return { result: running, shared: true };
    const result = call().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, result);
    return { result, shared: false };
  }

  get size(): number {
    return this.#inflight.size;
  }
}
