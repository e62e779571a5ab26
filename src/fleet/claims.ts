import type { JWTPayload } from 'jose';
import { IdbridgeError } from '../errors.js';
import type { VerifiedToken } from '../verify/subject-token.js';
import { fleetSubject } from './subject.js';

/** Lifetime of a minted fleet token: it is exchanged at once, by the broker itself. */
export const FLEET_TOKEN_LIFETIME_SECONDS = 300;

/** The claims of a fleet token, beside the registered ones. */
export interface FleetClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  cluster: string;
  namespace: string;
  service_account: string;
  pod?: string;
  node?: string;
}

/**
 * What the broker mints for a verified cluster token: who it is (cluster, namespace,
 * ServiceAccount, pod, node from the token's `kubernetes.io` claim) under the fleet issuer, for
 * the fleet provider. A pure function: the clock is a parameter.
 */
export function fleetClaims(
  verified: VerifiedToken,
  options: { issuer: string; audience: string; now: number },
): FleetClaims {
  const { namespace, serviceAccount } = verified;
  if (namespace === undefined || serviceAccount === undefined)
    throw new IdbridgeError(
      'unauthenticated',
      `the token of cluster ${verified.cluster} has no kubernetes.io namespace and serviceaccount claims; fleet mode mints only for ServiceAccount tokens (a projected token from the kubelet or TokenRequest)`,
    );
  const kube = (verified.payload['kubernetes.io'] ?? {}) as { node?: { name?: unknown } };
  const node = typeof kube.node?.name === 'string' ? kube.node.name : undefined;
  const iat = Math.floor(options.now / 1000);
  return {
    iss: options.issuer,
    sub: fleetSubject(verified.cluster, namespace, serviceAccount),
    aud: options.audience,
    iat,
    nbf: iat,
    exp: iat + FLEET_TOKEN_LIFETIME_SECONDS,
    cluster: verified.cluster,
    namespace,
    service_account: serviceAccount,
    ...(verified.pod !== undefined ? { pod: verified.pod } : {}),
    ...(node !== undefined ? { node } : {}),
  };
}
