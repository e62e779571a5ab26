import { SyncFailure } from './failure.js';

export interface BackoffPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Upper bound of the first retry's delay; doubles per retry. */
  initialMs: number;
  /** Cap on any delay. */
  maxMs: number;
}

/**
 * Capped exponential backoff with full jitter: the delay before retry `n` (0-based) is uniform in
 * [0, min(maxMs, initialMs · 2^n)], so many clusters retrying at once spread out.
 */
export function backoffDelay(
  retry: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

export interface RetryHooks {
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each retry with the failure that caused it. */
  onRetry?: (failure: SyncFailure, attempt: number, delayMs: number) => void;
}

/** Runs `action` until it succeeds, fails for good, or runs out of attempts (the last failure is thrown). */
export async function withRetries<T>(
  action: () => Promise<T>,
  policy: BackoffPolicy,
  hooks: RetryHooks,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (err) {
      if (!(err instanceof SyncFailure) || !err.retryable || attempt >= policy.attempts) throw err;
      const delay = backoffDelay(attempt - 1, policy, hooks.random);
      hooks.onRetry?.(err, attempt, delay);
      await hooks.sleep(delay);
    }
  }
}
