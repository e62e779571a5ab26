import { IdbridgeError } from '../errors.js';
import { bucketPublicBase, parseBucketPath } from '../gcs/layout.js';
import { DISCOVERY_PATH, JWKS_PATH, type DocumentKind } from '../oidc/paths.js';

/**
 * Where the edge reads a cluster's documents. Both kinds keep them at
 * `{base}/{cluster}/.well-known/openid-configuration` and `{base}/{cluster}/openid/v1/jwks`:
 * an idbridge server serves them there, and the GCS bucket layout puts them there on purpose.
 */
export interface Origin {
  kind: 'idbridge' | 'gcs';
  /** Documents live under here; also the issuer base a bucket- or server-hosted issuer uses. */
  base: string;
}

// gcs://BUCKET/PREFIX as IDBRIDGE_STORE writes it; gs:// as gcloud and gsutil write it is taken too.
const GCS_SCHEME = /^gc?s:\/\//;

/**
 * `https://idbridge.internal.example` (any idbridge server), or the bucket the registration API
 * writes as `gcs://BUCKET/PREFIX` or as its public URL under `gcsUrl`
 * (`https://storage.googleapis.com/BUCKET/PREFIX`), read through public object URLs.
 */
export function parseOrigin(value: string, gcsUrl: string): Origin {
  const scheme = GCS_SCHEME.exec(value);
  if (scheme) {
    const location = parseBucketPath(value.slice(scheme[0].length));
    if ('problem' in location)
      throw badOrigin(`${JSON.stringify(value.slice(0, 100))} ${location.problem}`);
    return { kind: 'gcs', base: bucketPublicBase(gcsUrl, location) };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badOrigin(
      `${JSON.stringify(value.slice(0, 100))} is neither an http(s) URL nor gcs://BUCKET/PREFIX`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw badOrigin('an origin URL must use https (http only for local testing)');
  if (url.username || url.password)
    throw badOrigin(
      'the origin URL must not contain credentials: the edge reads public documents only',
    );
  if (url.search || url.hash) throw badOrigin('the origin URL must not have a query or fragment');
  const base = url.href.replace(/\/+$/, '');
  return { kind: base.startsWith(`${gcsUrl}/`) ? 'gcs' : 'idbridge', base };
}

export function originDocumentUrl(origin: Origin, cluster: string, kind: DocumentKind): string {
  return `${origin.base}/${cluster}${kind === 'jwks' ? JWKS_PATH : DISCOVERY_PATH}`;
}

/**
 * Whether an origin status means "no such document". A public GCS object that does not exist
 * answers 403 to anonymous readers unless they may also list the bucket, so 403 counts there.
 */
export function meansMissing(origin: Origin, status: number): boolean {
  return status === 404 || (origin.kind === 'gcs' && status === 403);
}

function badOrigin(why: string): IdbridgeError {
  return new IdbridgeError(
    'internal',
    `invalid Worker configuration: IDBRIDGE_ORIGIN: ${why}; set it to the base URL of an idbridge server (https://…) or to gcs://BUCKET/PREFIX`,
  );
}
