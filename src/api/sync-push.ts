import { IdbridgeError } from '../errors.js';
import type { Jwks, PublicJwk } from '../oidc/jwks.js';
import { sameKey } from '../registry/keys.js';
import type { ClusterRecord } from '../registry/record.js';
import { TokenError, type VerifiedToken } from '../verify/subject-token.js';

/** Who is replacing a cluster's keys: an administrator, or the cluster's own sync job. */
export type KeyPusher =
  { kind: 'admin' } | { kind: 'cluster'; token: VerifiedToken; signer: PublicJwk };

/** The key on record that verified the token. */
export function signerOf(record: ClusterRecord, token: VerifiedToken): PublicJwk {
  const entry = record.keys.find((key) => key.jwk.kid === token.kid);
  if (!entry)
    throw new TokenError(
      'unknown_key',
      `the token's key is not among cluster ${record.id}'s published keys`,
    );
  return entry.jwk;
}

/**
 * The lock-out rule: a JWKS a cluster publishes must still hold the key (same key material, not
 * merely the kid) that signs the publisher's own token. The push endpoint and sync's
 * wif-provider target both judge with it.
 */
export function keepsSigner(jwks: Jwks, signer: PublicJwk): boolean {
  return jwks.keys.some((key) => sameKey(key, signer));
}

/**
 * A cluster may not publish a JWKS without the key that signed its request: its next sync (and
 * every workload token signed by that key) could no longer be verified.
 */
export function checkSignerKept(jwks: Jwks, pusher: Extract<KeyPusher, { kind: 'cluster' }>): void {
  if (keepsSigner(jwks, pusher.signer)) return;
  throw new IdbridgeError(
    'invalid_jwks',
    `the JWKS does not contain key ${JSON.stringify(pusher.signer.kid)}, which signed this request: publishing it would lock cluster ${pusher.token.cluster} out ` +
      '(its next sync and every token signed by that key would be refused). Keep the old key in the JWKS until the kube-apiserver signs with the new one, ' +
      'then remove it with a push signed by the new key (see the rotation runbook); an administrator can force a replacement with the admin token',
  );
}

/**
 * Inside the compare-and-swap: the record being replaced must still trust the request's token —
 * same signing key, same sync subject, same issuer — or an admin change made meanwhile would be
 * overwritten by a push it was meant to stop.
 */
export function checkSignerOnRecord(
  current: ClusterRecord,
  pusher: Extract<KeyPusher, { kind: 'cluster' }>,
): void {
  if (!current.keys.some((key) => sameKey(key.jwk, pusher.signer))) {
    throw new TokenError(
      'unknown_key',
      `key ${JSON.stringify(pusher.signer.kid)} that signed this request was removed from cluster ${current.id} while the push was in flight; nothing was changed`,
    );
  }
  if (current.syncSubject !== pusher.token.subject) {
    throw new TokenError(
      'wrong_subject',
      `cluster ${current.id}'s sync subject changed to ${JSON.stringify(current.syncSubject)} while the push was in flight; nothing was changed`,
    );
  }
  if (current.issuer !== pusher.token.issuer) {
    throw new TokenError(
      'wrong_issuer',
      `cluster ${current.id}'s issuer changed while the push was in flight; nothing was changed`,
    );
  }
}
