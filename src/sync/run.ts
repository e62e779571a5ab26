import type { Logger } from '../log/logger.js';
import { checkServedDocuments, type CheckedDocuments, type ServedDocuments } from './documents.js';
import { SYNC_EXIT_CODES, SyncFailure } from './failure.js';
import { withRetries, type BackoffPolicy } from './retry.js';
import type { PublishOutcome, SyncTarget } from './target.js';

export interface SyncSchedule {
  /** One cycle, then exit (a CronJob). Otherwise a cycle every `intervalMs` (a Deployment). */
  once: boolean;
  intervalMs: number;
  /** Each wait is the interval ± this fraction, at random, so clusters do not push in lockstep. */
  jitter: number;
  /** In interval mode unchanged documents are not pushed, except this often (proves the credentials still work). */
  repushAfterMs: number;
  retry: BackoffPolicy;
  /** The cluster's registered issuer, if known here: checked before anything is pushed. */
  expectedIssuer?: string;
}

export interface SyncDeps {
  source: { read(): Promise<ServedDocuments> };
  target: SyncTarget;
  logger: Logger;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  now: () => number;
  /** Aborted on SIGTERM: the loop stops after the current step. */
  signal?: AbortSignal;
}

export type CycleResult =
  | { pushed: true; checked: CheckedDocuments; outcome: PublishOutcome }
  | { pushed: false; checked: CheckedDocuments };

/** The last successful publish, to skip unchanged documents in interval mode. */
interface LastPush {
  digest: string;
  at: number;
}

/**
 * One sync cycle: read the issuer documents from the kube-apiserver and check them (retried while
 * the apiserver is down or answers garbage), then publish them (retried on outages and conflicts).
 * Nothing is published unless the checks passed.
 */
export async function syncCycle(
  schedule: SyncSchedule,
  deps: SyncDeps,
  last?: LastPush,
): Promise<CycleResult> {
  const hooks = {
    sleep: deps.sleep,
    random: deps.random,
    onRetry: (failure: SyncFailure, attempt: number, delayMs: number) =>
      deps.logger.warn('sync attempt failed; retrying', {
        attempt,
        of: schedule.retry.attempts,
        retryInMs: delayMs,
        error: failure.message,
      }),
  };
  const { served, checked } = await withRetries(
    async () => {
      const served = await deps.source.read();
      return { served, checked: await checkServedDocuments(served, schedule.expectedIssuer) };
    },
    schedule.retry,
    hooks,
  );
  if (last && last.digest === checked.digest && deps.now() - last.at < schedule.repushAfterMs)
    return { pushed: false, checked };
  const outcome = await withRetries(
    () => deps.target.publish(checked, served),
    schedule.retry,
    hooks,
  );
  return { pushed: true, checked, outcome };
}

/** Runs `idbridge sync` to completion (once) or until `signal` aborts (interval); resolves to the exit code. */
export async function runSync(
  schedule: SyncSchedule,
  deps: SyncDeps,
  report: (line: string) => void,
): Promise<number> {
  let last: LastPush | undefined;
  for (;;) {
    try {
      const result = await syncCycle(schedule, deps, last);
      logResult(deps.logger, deps.target, result);
      // A publish with more to write (a deferred key removal) is not remembered: the next cycle publishes again.
      if (result.pushed)
        last = result.outcome.pending
          ? undefined
          : { digest: result.checked.digest, at: deps.now() };
      if (schedule.once) return SYNC_EXIT_CODES.ok;
    } catch (err) {
      const failure = err instanceof SyncFailure ? err : undefined;
      const message = failure
        ? failure.message
        : `unexpected error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
      deps.logger.error('sync failed', {
        kind: failure?.kind ?? 'internal',
        error: message,
        target: deps.target.description,
      });
      // A configuration error will not fix itself: exit so the pod's restarts make it visible.
      if (schedule.once || failure?.kind === 'config') {
        report(`idbridge sync: ${message}`);
        return failure?.exitCode ?? SYNC_EXIT_CODES.internal;
      }
    }
    if (deps.signal?.aborted) return SYNC_EXIT_CODES.ok;
    const wait = Math.round(schedule.intervalMs * (1 + schedule.jitter * (2 * deps.random() - 1)));
    await deps.sleep(wait);
    if (deps.signal?.aborted) return SYNC_EXIT_CODES.ok;
  }
}

function logResult(logger: Logger, target: SyncTarget, result: CycleResult): void {
  const base = {
    issuer: result.checked.issuer,
    keys: result.checked.jwks.keys.map((k) => k.kid),
    target: target.description,
  };
  if (!result.pushed) {
    logger.info('sync: documents unchanged since the last push; nothing pushed', base);
    return;
  }
  const { outcome } = result;
  logger.info(
    outcome.changed ? 'sync: published new keys' : 'sync: already up to date; nothing written',
    {
      ...base,
      changed: outcome.changed,
      added: outcome.added,
      removed: outcome.removed,
      ...(outcome.version !== undefined ? { version: outcome.version } : {}),
    },
  );
  for (const warning of outcome.warnings) logger.warn('sync: warning', { warning });
}
