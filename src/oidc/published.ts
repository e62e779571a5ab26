import { base64url } from 'jose';
import { buildDiscovery } from './discovery.js';
import {
  googleAccepts,
  keyWarnings,
  partitionKeys,
  withheldWarning,
  type PublicJwk,
  type SigningAlgorithm,
  type WithheldKey,
} from './jwks.js';

/**
 * How long verifiers and HTTP caches may keep a document. kube-apiserver uses an hour; idbridge
 * uses five minutes so a removed (e.g. compromised) key leaves every HTTP cache within five
 * minutes, while Google STS keeps its own fetch schedule either way. The rotation runbook waits
 * longer than this between publishing a key and signing with it.
 */
export const PUBLIC_MAX_AGE_SECONDS = 300;

export const DISCOVERY_CONTENT_TYPE = 'application/json';
export const JWKS_CONTENT_TYPE = 'application/jwk-set+json';

/** A document serialized once, when it changes, with every response header precomputed. */
export interface PublishedDocument {
  readonly body: Uint8Array;
  readonly etag: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface PublishedKey {
  kid: string;
  alg: SigningAlgorithm;
  googleAccepts: boolean;
}

/** Everything the public routes serve for one cluster. */
export interface ClusterDocuments {
  readonly cluster: string;
  readonly issuer: string;
  readonly discovery: PublishedDocument;
  readonly jwks: PublishedDocument;
  readonly keys: readonly PublishedKey[];
  /** Keys on record that fail the RSA rule (stored before it existed): never served. */
  readonly withheld: readonly WithheldKey[];
  readonly warnings: readonly string[];
}

export async function publishDocument(
  value: unknown,
  contentType: string,
): Promise<PublishedDocument> {
  const body = new TextEncoder().encode(JSON.stringify(value));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  const etag = `"${base64url.encode(digest)}"`;
  return {
    body,
    etag,
    headers: Object.freeze({
      'content-type': contentType,
      'content-length': String(body.byteLength),
      'cache-control': `public, max-age=${PUBLIC_MAX_AGE_SECONDS}`,
      etag,
      'access-control-allow-origin': '*',
      'x-content-type-options': 'nosniff',
    }),
  };
}

/**
 * Serializes a cluster's discovery document (computed from its issuer) and its JWKS. Every host
 * publishes through here, so a key that fails the RSA rule (one stored before the rule existed)
 * is withheld from every served document and flagged in the warnings.
 */
export async function publishCluster(
  cluster: string,
  issuer: string,
  keys: readonly PublicJwk[],
): Promise<ClusterDocuments> {
  const { trusted, withheld } = partitionKeys(keys);
  const [discovery, jwks] = await Promise.all([
    publishDocument(buildDiscovery(issuer, trusted), DISCOVERY_CONTENT_TYPE),
    publishDocument({ keys: trusted }, JWKS_CONTENT_TYPE),
  ]);
  return {
    cluster,
    issuer,
    discovery,
    jwks,
    keys: trusted.map((key) => ({
      kid: key.kid,
      alg: key.alg,
      googleAccepts: googleAccepts(key.alg),
    })),
    withheld,
    warnings: [...withheld.map(withheldWarning), ...trusted.flatMap(keyWarnings)],
  };
}

/** What of a registry record its documents are built from. */
export interface PublishableRecord {
  id: string;
  issuer: string;
  keys: readonly { jwk: PublicJwk }[];
  /** The cluster's mode (absent: `provider`); a `jwks-upload` cluster publishes nothing. */
  mode?: string | undefined;
}

/**
 * A registered cluster's documents, or null when it publishes none: while it has no keys that may
 * be trusted (no keys yet, or only keys withheld by the RSA rule), and always for a `jwks-upload`
 * cluster, whose provider holds its keys so that it has no public issuer. Every host decides here:
 * serve and the Cloud Function (RegistryDocuments), the GCS store's bucket mirror, and the edge
 * through its origin; so such a cluster gets the 404 of an unknown one everywhere.
 */
export async function recordDocuments(record: PublishableRecord): Promise<ClusterDocuments | null> {
  const docs =
    record.keys.length === 0 || record.mode === 'jwks-upload'
      ? null
      : await publishCluster(
          record.id,
          record.issuer,
          record.keys.map((key) => key.jwk),
        );
  return docs && docs.keys.length > 0 ? docs : null;
}
