import type { Logger } from '../log/logger.js';
import type { CacheResult, Outcome } from './metrics.js';
import type { UpstreamEndpoint } from './upstream.js';

/**
 * One structured line per broker call: who (cluster, verified subject), against what (provider,
 * service account), how it ended and how long it took. Tokens never appear, not even in part:
 * every field here is either a registry name, a verified claim or a number.
 */
export interface AuditFields {
  endpoint: UpstreamEndpoint;
  cluster?: string;
  /** The verified `sub` only; claims of a token that failed verification are not logged. */
  subject?: string;
  provider?: string;
  serviceAccount?: string;
  /** AWS: the IAM role asked for (`RoleArn`). */
  role?: string;
  /** Entra ID: the tenant and the application (client) id asked for. */
  tenant?: string;
  clientId?: string;
  outcome?: Outcome;
  /** Why the broker refused (a TokenFailure or an error code). */
  reason?: string;
  status?: number;
  upstreamStatus?: number;
  attempts?: number;
  cache?: CacheResult;
  /** Fleet mode (docs/fleet.md): the minted token's key id and `sub`, never the token. */
  fleetKid?: string;
  fleetSubject?: string;
  /** Time the mint took, ms (inside upstreamMs: the mint runs in the call shared by identical ones). */
  fleetMintMs?: number;
  /** Time spent waiting for Google (or for the identical call in flight), ms. */
  upstreamMs?: number;
  /** Time to answer, upstream included, ms. */
  ms?: number;
}

export function audit(logger: Logger, fields: AuditFields): void {
  logger.info('broker exchange', {
    ...fields,
    ms: fields.ms === undefined ? undefined : Math.round(fields.ms * 100) / 100,
  });
}
