import { createHash } from 'node:crypto';
import {
  findingsOf,
  judgeDiscovery,
  jwksUriFor,
  type DiscoveryDocument,
} from '../oidc/discovery.js';
import { validateJwks, type ValidatedJwks } from '../oidc/jwks.js';
import { isIdbridgeError } from '../errors.js';
import { SyncFailure } from './failure.js';
import { describeIssues } from '../errors/zod.js';

/** What the kube-apiserver served, parsed from JSON but not yet trusted. */
export interface ServedDocuments {
  discovery: unknown;
  jwks: unknown;
}

/** The cluster's documents after the checks: safe to publish. */
export interface CheckedDocuments {
  discovery: DiscoveryDocument;
  jwks: ValidatedJwks;
  /** The cluster's issuer (from its discovery document). */
  issuer: string;
  /** Changes exactly when what would be published changes: the issuer and the canonical keys. */
  digest: string;
}

/**
 * Checks what the kube-apiserver served before anything is pushed: a discovery document whose
 * issuer is the registered one (when known here), and a JWKS that passes the same rules as the
 * API's. An empty or invalid key set is never published.
 */
export async function checkServedDocuments(
  served: ServedDocuments,
  expectedIssuer?: string,
): Promise<CheckedDocuments> {
  const judged = judgeDiscovery(
    served.discovery,
    expectedIssuer !== undefined ? { issuers: [expectedIssuer] } : {},
  );
  if (!judged.document) {
    const where = describeIssues(findingsOf(judged, 'shape'), 'document');
    throw new SyncFailure(
      'documents',
      `the kube-apiserver's /.well-known/openid-configuration is not an OpenID provider configuration (${where.slice(0, 300)}); is ServiceAccountIssuerDiscovery enabled (Kubernetes 1.21+)?`,
      false,
    );
  }
  const discovery = judged.document;
  if (expectedIssuer !== undefined && findingsOf(judged, 'issuer').length > 0) {
    throw new SyncFailure(
      'documents',
      expectedIssuerMismatch(discovery.issuer, expectedIssuer),
      false,
    );
  }
  let jwks: ValidatedJwks;
  try {
    jwks = await validateJwks(served.jwks);
  } catch (err) {
    if (!isIdbridgeError(err)) throw err;
    throw new SyncFailure(
      'documents',
      `the kube-apiserver's /openid/v1/jwks cannot be published, nothing was pushed: ${err.message}`,
      false,
      { cause: err },
    );
  }
  const digest = createHash('sha256')
    .update(JSON.stringify({ issuer: discovery.issuer, keys: jwks.keys }))
    .digest('base64url');
  return { discovery, jwks, issuer: discovery.issuer, digest };
}

/** Sync compares with the issuer it was given (--issuer, or the bucket's URL with --target), not with the registry. */
function expectedIssuerMismatch(actual: string, expected: string): string {
  const slash =
    actual.replace(/\/+$/, '') === expected
      ? ' (they differ only by a trailing slash, which is enough for Google STS to refuse every token)'
      : '';
  return (
    `the cluster's issuer is ${JSON.stringify(actual)} but sync expects ${JSON.stringify(expected)} (--issuer, or with --target the bucket's public URL)${slash}: ` +
    `if ${JSON.stringify(expected)} is the issuer registered for the cluster (idbridge clusters get ID), start the kube-apiserver with --service-account-issuer=${expected} as its first issuer flag ` +
    `(and --service-account-jwks-uri=${jwksUriFor(expected)}); otherwise correct --issuer`
  );
}
