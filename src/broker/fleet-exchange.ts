import { parseProvider, type WorkloadIdentityProvider } from '../credentials/credential-config.js';
import { fleetClaims } from '../fleet/claims.js';
import type { FleetSigner } from '../fleet/signer.js';
import type { ClusterRecord } from '../registry/record.js';
import type { VerifiedToken } from '../verify/subject-token.js';
import type { AuditFields } from './audit.js';
import { BrokerError } from './google-errors.js';
import { upstreamTokenForm, type StsTokenRequest } from './sts-request.js';
import type { UpstreamRequest } from './upstream.js';

const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** What the broker needs for fleet mode: the fleet provider, the fleet issuer and its signer. */
export interface FleetMinting {
  provider: WorkloadIdentityProvider;
  issuer: string;
  signer: FleetSigner;
}

export function fleetMinting(provider: string, issuer: string, signer: FleetSigner): FleetMinting {
  return { provider: parseProvider(provider), issuer, signer };
}

/** A fleet exchange decided: `upstream()` mints the fleet token and builds Google's request. */
export interface FleetStep {
  upstream(fields: AuditFields): Promise<UpstreamRequest>;
}

/**
 * The fleet decision, after the cluster's token is verified and its broker policy passed, before
 * the answer cache: null for an exchange under the cluster's own provider, a FleetStep for one
 * under the fleet provider, or a refusal (no mint, no upstream call). Refusals: a cluster not in
 * fleet mode asking for the fleet provider; a fleet cluster asking for another provider; a
 * revoked cluster or subject (checked before the cache, so its cached answers are never served).
 */
export function fleetStep(
  record: ClusterRecord,
  request: StsTokenRequest,
  verified: VerifiedToken,
  fleet: FleetMinting | undefined,
  options: { stsUrl: string; now: () => number },
): FleetStep | null {
  const forFleet = fleet !== undefined && request.provider.path === fleet.provider.path;
  if (record.mode !== 'fleet') {
    if (!forFleet) return null;
    throw new BrokerError(
      'provider_not_allowed',
      `cluster ${record.id} is not in fleet mode, so it may not exchange against the fleet provider ${fleet.provider.path}; register it with "mode": "fleet" (PATCH /api/v1/clusters/${record.id}) or use its own provider`,
    );
  }
  if (!fleet)
    throw new BrokerError(
      'misconfigured',
      `cluster ${record.id} is in fleet mode but this broker has no fleet provider; set IDBRIDGE_FLEET_PROVIDER and restart`,
    );
  if (!forFleet)
    throw new BrokerError(
      'provider_not_allowed',
      `cluster ${record.id} is in fleet mode: its pods exchange against the fleet provider ${fleet.provider.path}, not ${request.provider.path}; set the credential configuration's audience to ${fleet.provider.audience} (idbridge cred-config --fleet)`,
    );
  checkNotRevoked(record, verified.subject);
  const claims = fleetClaims(verified, {
    issuer: fleet.issuer,
    audience: fleet.provider.audience,
    now: options.now(),
  });
  return {
    async upstream(fields) {
      fields.fleetSubject = claims.sub;
      const started = performance.now();
      const minted = await fleet.signer.sign(claims);
      fields.fleetKid = minted.kid;
      fields.fleetMintMs = Math.round((performance.now() - started) * 1000) / 1000;
      return {
        endpoint: 'token',
        url: `${options.stsUrl}/v1/token`,
        contentType: 'application/x-www-form-urlencoded',
        body: upstreamTokenForm({
          ...request,
          subjectToken: minted.token,
          subjectTokenType: JWT_TOKEN_TYPE,
        }),
      };
    },
  };
}

/** The kill switch (PATCH `fleet` on the registration API): a revoked cluster or subject gets nothing. */
export function checkNotRevoked(record: ClusterRecord, subject: string): void {
  if (record.fleet?.revoked)
    throw new BrokerError(
      'permission_denied',
      `cluster ${record.id} is revoked from fleet minting; an administrator lifts it with PATCH /api/v1/clusters/${record.id} {"fleet": null}`,
    );
  if (record.fleet?.revokedSubjects?.includes(subject))
    throw new BrokerError(
      'permission_denied',
      `${JSON.stringify(subject.slice(0, 320))} of cluster ${record.id} is revoked from fleet minting; an administrator lifts it by removing it from the cluster's fleet.revokedSubjects`,
    );
}
