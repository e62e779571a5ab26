import { DISCOVERY_PATH, JWKS_PATH } from '../oidc/paths.js';

/**
 * Object names in a bucket under PREFIX (DESIGN.md, "Bucket layout"): the two public documents
 * of cluster `c` at `PREFIX/c/.well-known/openid-configuration` and `PREFIX/c/openid/v1/jwks`,
 * so the bucket URL itself can serve as an issuer; registry records at
 * `PREFIX/.idbridge/clusters/c`, a name no cluster id can take (ids never start with a dot).
 * Records carry no extension so that name order is id order, which listing relies on.
 */
export interface GcsLayout {
  readonly bucket: string;
  readonly prefix: string;
  /** Where every record lives: list this prefix to enumerate clusters. */
  readonly recordsPrefix: string;
  record(id: string): string;
  /** A private record of the store (the fleet signing keys): beside the records, never a document path. */
  privateRecord(name: string): string;
  discovery(id: string): string;
  jwks(id: string): string;
  /** The cluster a record object name belongs to, or null for any other object. */
  recordId(objectName: string): string | null;
  /** The cluster and kind of a public document object name, or null for any other object. */
  document(objectName: string): { cluster: string; kind: 'discovery' | 'jwks' } | null;
  /** `gs://bucket/prefix/…` for messages. */
  url(objectName: string): string;
}

export function gcsLayout(bucket: string, prefix: string): GcsLayout {
  const base = prefix === '' ? '' : `${prefix}/`;
  const recordsPrefix = `${base}.idbridge/clusters/`;
  return {
    bucket,
    prefix,
    recordsPrefix,
    record: (id) => `${recordsPrefix}${id}`,
    privateRecord: (name) => `${base}.idbridge/private/${name}`,
    discovery: (id) => `${base}${id}${DISCOVERY_PATH}`,
    jwks: (id) => `${base}${id}${JWKS_PATH}`,
    recordId: (name) =>
      name.startsWith(recordsPrefix) && !name.slice(recordsPrefix.length).includes('/')
        ? name.slice(recordsPrefix.length)
        : null,
    document: (name) => {
      if (!name.startsWith(base)) return null;
      const rest = name.slice(base.length);
      const slash = rest.indexOf('/');
      if (slash < 1) return null;
      const tail = rest.slice(slash);
      const kind = tail === JWKS_PATH ? 'jwks' : tail === DISCOVERY_PATH ? 'discovery' : null;
      return kind ? { cluster: rest.slice(0, slash), kind } : null;
    },
    url: (name) => `gs://${bucket}/${name}`,
  };
}

/** A bucket and an object prefix, as `gcs://BUCKET/PREFIX` names them. */
export interface BucketLocation {
  bucket: string;
  prefix: string;
}

// GCS bucket naming rules: 3-222 characters, lowercase letters, digits, -, _ and .
const BUCKET_PATH = /^([a-z0-9][-_.a-z0-9]{1,221}[a-z0-9])(?:\/(.*))?$/;

/**
 * `BUCKET/PREFIX` as written after `gcs://` (or gcloud's `gs://`), or what is wrong with it. One
 * reading for IDBRIDGE_STORE, `sync --target` and the edge's IDBRIDGE_ORIGIN (Web APIs only).
 */
export function parseBucketPath(path: string): BucketLocation | { problem: string } {
  const match = BUCKET_PATH.exec(path);
  if (!match) return { problem: 'is not gcs://BUCKET/PREFIX with a valid bucket name' };
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (
    prefix !== '' &&
    prefix.split('/').some((part) => part === '' || part === '.' || part === '..')
  ) {
    return { problem: 'has an empty, "." or ".." segment in its prefix' };
  }
  return { bucket: match[1]!, prefix };
}

/** The public URL of the bucket prefix under `gcsUrl` (https://storage.googleapis.com): a bucket-hosted issuer's base. */
export function bucketPublicBase(gcsUrl: string, location: BucketLocation): string {
  return [
    gcsUrl,
    location.bucket,
    ...(location.prefix === '' ? [] : location.prefix.split('/').map(encodeURIComponent)),
  ].join('/');
}
