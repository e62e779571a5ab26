import { IdbridgeError } from '../errors.js';
import { gcsStatus } from './errors.js';

export interface StoreBreakerOptions {
  /** Each store call is abandoned after this long (the client's own retries included). */
  timeoutMs: number;
  /** After an outage, calls fail at once for this long; then one call probes the store again. */
  failFastMs: number;
  now?: () => number;
}

/** Marks an error as an outage the breaker saw, with the seconds a client should wait. */
export class StoreOutageError extends IdbridgeError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super('store_unavailable', message, [], { ...options, retryAfter: retryAfterSeconds });
  }
}

/** An answer that says the store itself is down: no answer, a timeout, a 5xx or a 429. */
export function isOutage(err: unknown): boolean {
  if (err instanceof StoreOutageError) return true;
  if (err instanceof IdbridgeError) return false;
  const status = gcsStatus(err);
  return status === undefined || status === 429 || status >= 500;
}

/**
 * A timeout and a small circuit breaker around the store's calls to Cloud Storage. The client
 * library retries with backoff for many seconds; a request should not wait that long for a 503.
 * After an outage every call fails at once for `failFastMs` (no request reaches GCS), then one
 * call is let through as a probe: its success closes the breaker, its failure opens it again.
 */
export class StoreBreaker {
  readonly #timeoutMs: number;
  readonly #failFastMs: number;
  readonly #now: () => number;
  /** Why the last call failed as an outage; undefined while the store is healthy. */
  #outage: string | undefined;
  #openUntil = 0;
  #probing = false;

  constructor(options: StoreBreakerOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#failFastMs = options.failFastMs;
    this.#now = options.now ?? Date.now;
  }

  /** Seconds until the next probe, for Retry-After (at least 1). */
  get #retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#openUntil - this.#now()) / 1000));
  }

  async run<T>(
    what: string,
    call: () => Promise<T>,
    describe: (err: unknown) => IdbridgeError,
  ): Promise<T> {
    const probe = this.#outage !== undefined;
    if (probe && (this.#now() < this.#openUntil || this.#probing)) {
      throw new StoreOutageError(
        `Cloud Storage failed a moment ago for ${what} (${this.#outage}); not asking it again for ${this.#retryAfterSeconds} s, retry then`,
        this.#retryAfterSeconds,
      );
    }
    if (probe) this.#probing = true;
    try {
      const value = await withTimeout(call(), this.#timeoutMs, what);
      this.#outage = undefined;
      return value;
    } catch (err) {
      if (!isOutage(err)) {
        // GCS answered (a 404, a 412, a refusal): it is up.
        this.#outage = undefined;
        throw describe(err);
      }
      const described = describe(err);
      this.#outage = described.message.slice(0, 200);
      this.#openUntil = this.#now() + this.#failFastMs;
      throw new StoreOutageError(described.message, this.#retryAfterSeconds, { cause: err });
    } finally {
      if (probe) this.#probing = false;
    }
  }
}

class StoreTimeout extends StoreOutageError {}

/** `promise`, or a StoreTimeout after `ms`; the abandoned call's late outcome is ignored. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreTimeout(
            `Cloud Storage did not answer within ${ms} ms for ${what}; retry later`,
            1,
          ),
        ),
      ms,
    );
  });
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
