import { z } from 'zod';
import type { DocumentKind } from '../oidc/paths.js';
import type { PublicJwk } from '../oidc/jwks.js';
import { storedJwkSchema } from '../registry/record.js';
import type { FreshnessPolicy } from './config.js';

/** A cluster's documents as the origin last sent them, after validation. Nothing else is kept. */
export interface OriginCopy {
  keys: PublicJwk[];
  /** The issuer the origin's discovery document names (the edge republishes its own). */
  originIssuer: string;
  /** The origin's validators, sent back as If-None-Match. */
  etags: Record<DocumentKind, string | null>;
  /** When the origin last sent new content for each document (epoch ms). */
  changedAt: Record<DocumentKind, number>;
}

export interface OriginFault {
  at: number;
  /** Why the last check failed, in words fit for a log line and the status page. */
  reason: string;
  /** The origin said the cluster does not exist (404), as opposed to failing. */
  missing: boolean;
}

/** What the edge knows about one cluster. Shared between isolates through the Cache API. */
export interface ClusterState {
  cluster: string;
  /** The last good copy, or null when the origin has never had this cluster. */
  copy: OriginCopy | null;
  /** When the origin last confirmed `copy` (200 or 304; for a null copy, 404). */
  confirmedAt: number;
  /** When the origin was last asked, whatever it answered. */
  checkedAt: number;
  /** The last check's failure; null when the last check confirmed `copy`. */
  fault: OriginFault | null;
}

/** The result of asking the origin once. */
export type OriginOutcome =
  | { kind: 'ok'; copy: OriginCopy }
  | { kind: 'missing'; reason: string }
  | { kind: 'fault'; reason: string };

export type Verdict =
  | { kind: 'serve'; copy: OriginCopy; stale: boolean }
  | { kind: 'not-found' }
  | { kind: 'unavailable'; reason: string };

/** True when the origin should be asked before answering (fresh TTL 0: on every request). */
export function isDue(state: ClusterState, now: number, policy: FreshnessPolicy): boolean {
  return now - state.checkedAt >= policy.freshMs;
}

/**
 * The state after asking the origin. A good answer replaces the copy; a failure or a 404 for a
 * cluster the edge has a copy of keeps that copy (the verdict decides how long it may be served).
 */
export function applyOutcome(
  previous: ClusterState | undefined,
  cluster: string,
  outcome: OriginOutcome,
  now: number,
): ClusterState {
  if (outcome.kind === 'ok')
    return { cluster, copy: outcome.copy, confirmedAt: now, checkedAt: now, fault: null };
  if (outcome.kind === 'missing' && !previous?.copy)
    return { cluster, copy: null, confirmedAt: now, checkedAt: now, fault: null };
  return {
    cluster,
    copy: previous?.copy ?? null,
    confirmedAt: previous?.confirmedAt ?? 0,
    checkedAt: now,
    fault: { at: now, reason: outcome.reason, missing: outcome.kind === 'missing' },
  };
}

/** What to answer from a state: the copy (possibly stale, within maxStale), 404, or 502. */
export function verdict(state: ClusterState, now: number, policy: FreshnessPolicy): Verdict {
  const { copy, fault } = state;
  if (copy) {
    if (!fault) return { kind: 'serve', copy, stale: false };
    if (now - state.confirmedAt <= policy.maxStaleMs) return { kind: 'serve', copy, stale: true };
  }
  if (fault && !fault.missing) return { kind: 'unavailable', reason: fault.reason };
  return { kind: 'not-found' };
}

/** When a stale copy stops being served. */
export function staleUntil(state: ClusterState, policy: FreshnessPolicy): number {
  return state.confirmedAt + policy.maxStaleMs;
}

const epochMs = z.number().int().nonnegative();
const perDocument = <T extends z.ZodType>(schema: T) =>
  z.object({ discovery: schema, jwks: schema });

/** The shape of a state read back from the shared cache; anything else there is ignored. */
export const clusterStateSchema: z.ZodType<ClusterState> = z.object({
  cluster: z.string(),
  copy: z
    .object({
      keys: z.array(storedJwkSchema).min(1),
      originIssuer: z.string(),
      etags: perDocument(z.string().max(512).nullable()),
      changedAt: perDocument(epochMs),
    })
    .nullable(),
  confirmedAt: epochMs,
  checkedAt: epochMs,
  fault: z.object({ at: epochMs, reason: z.string().max(2048), missing: z.boolean() }).nullable(),
});
