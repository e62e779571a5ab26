import type { ClusterRecord } from '../registry/record.js';
import type { AuditFields } from './audit.js';
import type { BrokerAnswer } from './google-errors.js';
import type { UpstreamAnswer, UpstreamRequest } from './upstream.js';

/** A successful upstream answer kept in the broker's cache, as it came. */
export interface CachedRelay {
  status: number;
  body: string;
  contentType: string;
}

/**
 * What one exchange for a cloud other than Google brings to the broker (aws-sts.ts, entra.ts):
 * the token, what the cluster's policy must allow, the exact upstream request, and how its
 * answer is cached. Verification, the subject policy, coalescing, the cache, rate limits, audit
 * and metrics are the broker's, the same for every cloud.
 */
export interface CloudExchange {
  subjectToken: string;
  /** The audiences the token must carry, from the cluster's record. */
  audiences(record: ClusterRecord): readonly string[];
  /** The cluster's policy on what is asked for (an AWS role, an Entra client id); throws a BrokerError. */
  checkTarget(record: ClusterRecord): void;
  /** Names for the audit line (role, client id, tenant). */
  audit: Partial<AuditFields>;
  /** What, besides the token, makes two requests the same (the cache and coalescing key). */
  key: readonly string[];
  upstream: UpstreamRequest;
  /** When a 200 answer's credentials expire (epoch seconds), or null when it carries none. */
  expiresAt(answer: UpstreamAnswer, nowSeconds: number): number | null;
  /** A cached answer as it is served at `nowSeconds`, its credentials expiring at `expiresAt`. */
  fromCache(cached: CachedRelay, expiresAt: number, nowSeconds: number): BrokerAnswer;
}
