import { z } from 'zod';
import { IdbridgeError } from '../errors.js';
import { JWKS_PATH } from './paths.js';
import { byteLength, type PublicJwk } from './jwks.js';
import { MAX_DOCUMENT_BYTES } from './limits.js';

/** The discovery document exactly as kube-apiserver serves it (and as idbridge republishes it). */
export interface DiscoveryDocument {
  issuer: string;
  jwks_uri: string;
  response_types_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
}

const url = z.string().max(2048).refine((value) => URL.canParse(value), 'must be an absolute URL');

/** What a kube-apiserver's /.well-known/openid-configuration must contain. */
export const discoverySchema = z.looseObject({
  issuer: url,
  jwks_uri: url,
  response_types_supported: z.array(z.string().max(64)).max(16),
  subject_types_supported: z.array(z.string().max(64)).max(16),
  id_token_signing_alg_values_supported: z.array(z.string().max(16)).max(16),
});

/** The JWKS location that belongs to an issuer: idbridge (and kube-apiserver) serve it here. */
export function jwksUriFor(issuer: string): string {
  return `${issuer}${JWKS_PATH}`;
}

/**
 * Checks a discovery document a cluster pushed. Its `issuer` is never trusted: it must equal the
 * issuer registered for the cluster, byte for byte, because Google STS compares them that way.
 */
export function checkPushedDiscovery(input: unknown, registeredIssuer: string): DiscoveryDocument {
  if (byteLength(JSON.stringify(input) ?? '') > MAX_DOCUMENT_BYTES) {
    throw new IdbridgeError('payload_too_large', `the discovery document is larger than ${MAX_DOCUMENT_BYTES / 1024} KiB; send the cluster's /.well-known/openid-configuration unchanged`);
  }
  const parsed = discoverySchema.safeParse(input);
  if (!parsed.success) {
    throw new IdbridgeError(
      'invalid_discovery',
      'the discovery document is not an OpenID provider configuration; send the body of the cluster\'s /.well-known/openid-configuration unchanged',
      parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
    );
  }
  if (parsed.data.issuer !== registeredIssuer) {
    throw issuerMismatch(parsed.data.issuer, registeredIssuer);
  }
  return parsed.data;
}

export function issuerMismatch(actual: string, registered: string): IdbridgeError {
  const hint = actual.replace(/\/+$/, '') === registered ? ' (they differ only by a trailing slash, which is enough for Google STS to refuse every token)' : '';
  return new IdbridgeError(
    'issuer_mismatch',
    `the cluster's issuer is ${JSON.stringify(actual)} but it is registered as ${JSON.stringify(registered)}${hint}: ` +
      `start the kube-apiserver with --service-account-issuer=${registered} as its first issuer flag ` +
      `(and --service-account-jwks-uri=${jwksUriFor(registered)})`,
  );
}

/** The discovery document idbridge publishes for a cluster, computed from its registered issuer. */
export function buildDiscovery(issuer: string, keys: readonly PublicJwk[]): DiscoveryDocument {
  const algorithms = [...new Set(keys.map((key) => key.alg))].sort();
  return {
    issuer,
    jwks_uri: jwksUriFor(issuer),
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: algorithms.length > 0 ? algorithms : ['RS256'],
  };
}
