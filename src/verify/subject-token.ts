import { base64url, compactVerify, errors, importJWK, type CryptoKey, type JWTPayload } from 'jose';
import { IdbridgeError } from '../errors.js';
import {
  firstError,
  GOOGLE_RULES,
  VERIFIER_CLAIM_RULES,
  type TokenFailure,
} from './google-rules.js';
import { kubernetesClaims } from './kube-claims.js';
import { keyFlaw, type GoogleAcceptedAlgorithm, type PublicJwk } from '../oidc/jwks.js';
import { sameKey } from '../registry/keys.js';
import type { ClusterRecord, KeyEntry } from '../registry/record.js';

export type { TokenFailure } from './google-rules.js';

export class TokenError extends IdbridgeError {
  constructor(
    readonly failure: TokenFailure,
    message: string,
  ) {
    super('unauthenticated', message);
  }
}

/** Google STS accepts only these for subject tokens; so does idbridge. */
type SubjectTokenAlgorithm = GoogleAcceptedAlgorithm;
export { MAX_TOKEN_LIFETIME_SECONDS } from './google-rules.js';
/** Far above any real projected token (about 1 KiB), far below harm. */
export const MAX_TOKEN_BYTES = 16 * 1024;
/** Clusters whose imported keys are kept; the least recently used are imported again when needed. */
const MAX_CACHED_CLUSTERS = 10_000;
/** Distinct token headers remembered (one per signing key in use, in practice). */
const MAX_CACHED_HEADERS = 1_000;
const MAX_CACHED_HEADER_LENGTH = 512;

export interface VerifyOptions {
  /** The token's `aud` must contain at least one of these. */
  audiences: readonly string[];
  /** When set, `sub` must equal it exactly. */
  subject?: string;
  /** Tolerance for exp/nbf/iat against the clock, seconds. Default 60. */
  clockSkewSeconds?: number;
  /** Current time, epoch milliseconds. Default Date.now. */
  now?: () => number;
  /**
   * @deprecated Ignored: the claims judged are always the payload jose verified, never a copy
   * decoded beforehand (with `b64: false` the two differ). Kept so older callers still compile.
   */
  claims?: UnverifiedClaims;
}

/** What idbridge knows about a verified Kubernetes ServiceAccount token. */
export interface VerifiedToken {
  cluster: string;
  issuer: string;
  subject: string;
  audiences: string[];
  namespace?: string;
  serviceAccount?: string;
  pod?: string;
  kid: string;
  alg: string;
  issuedAt: number;
  expiresAt: number;
  payload: JWTPayload;
}

const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The unverified claims of a token, to pick the cluster whose keys will verify it (its `iss`).
 * Nothing in them is trusted until verify() has checked the signature; passing them to verify()
 * saves decoding the payload twice.
 */
export function unverifiedClaims(token: string): UnverifiedClaims {
  checkShape(token);
  const payload = decodeSegment(token.slice(token.indexOf('.') + 1, token.lastIndexOf('.')));
  if (payload === null) {
    throw new TokenError(
      'malformed',
      'the token is not a JWT (three base64url parts with a JSON header and payload); send the projected ServiceAccount token file unchanged',
    );
  }
  if (typeof payload.iss !== 'string' || payload.iss === '')
    throw new TokenError(
      'malformed',
      'the token has no "iss" claim; a Kubernetes ServiceAccount token always has one',
    );
  return { token, payload, iss: payload.iss };
}

/** The payload of one token, decoded but not verified. */
export interface UnverifiedClaims {
  readonly token: string;
  readonly payload: Record<string, unknown>;
  readonly iss: string;
}

/** The unverified `iss` of a token (see unverifiedClaims). */
export function unverifiedIssuer(token: string): string {
  return unverifiedClaims(token).iss;
}

function checkShape(token: string): void {
  if (token.length > MAX_TOKEN_BYTES)
    throw new TokenError(
      'too_large',
      `the token is larger than ${MAX_TOKEN_BYTES / 1024} KiB; a ServiceAccount token is about 1 KiB — check what is being sent`,
    );
  if (!COMPACT_JWT.test(token)) {
    throw new TokenError(
      'malformed',
      'the token is not a compact JWT (header.payload.signature in base64url); send the projected ServiceAccount token file unchanged',
    );
  }
}

/**
 * RFC 7515 §4.1.11: a verifier must refuse a token whose "crit" names an extension it does not
 * implement. idbridge implements none (kube-apiserver never sets "crit"), so any "crit" is refused
 * here, before jose, which would otherwise honour "b64": false and verify other bytes.
 */
function checkNoCritical(header: Record<string, unknown>): void {
  if (!Object.hasOwn(header, 'crit')) return;
  throw new TokenError(
    'critical_header',
    `the token's header marks ${JSON.stringify(header.crit ?? null).slice(0, 80)} as critical ("crit", RFC 7515 §4.1.11), and this verifier implements no JWS extensions, so it cannot accept the token; a Kubernetes ServiceAccount token never has "crit": send the projected token file unchanged`,
  );
}

/** A base64url JSON object, or null when the segment is anything else. */
function decodeSegment(segment: string | Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(
      utf8.decode(typeof segment === 'string' ? base64url.decode(segment) : segment),
    );
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** A cluster's keys imported for verification, valid while the record's key list is the same. */
interface ImportedKeys {
  entries: readonly KeyEntry[];
  byKid: Map<string, ImportedKey>;
}

interface ImportedKey {
  jwk: PublicJwk;
  alg: SubjectTokenAlgorithm;
  key: Promise<CryptoKey>;
  /** Set once imported, so verifications do not wait on an already settled promise. */
  ready?: CryptoKey;
}

/** One options object per algorithm, shared by all verifications. */
const JOSE_OPTIONS: Record<SubjectTokenAlgorithm, { algorithms: string[] }> = {
  RS256: { algorithms: ['RS256'] },
  ES256: { algorithms: ['ES256'] },
};

/**
 * Verifies a Kubernetes ServiceAccount token against the keys on record for its cluster: the
 * signature (RS256/ES256 only, checked by jose with keys imported once per key set), `iss` equal
 * to the cluster's issuer, `aud`, `exp`/`nbf`/`iat` with a small skew, and a lifetime under
 * 48 hours, as Google STS requires.
 *
 * Built for throughput: everything that can be decided without the signature (shape, algorithm,
 * key id) is decided first without jose, the imported key is found by kid in a map (no JWKS
 * selection per call), and the payload jose returns is parsed once and checked here.
 */
export class SubjectTokenVerifier {
  readonly #clusters = new Map<string, ImportedKeys>();
  readonly #headers = new Map<string, Readonly<Record<string, unknown>>>();

  async verify(
    token: string,
    record: ClusterRecord,
    options: VerifyOptions,
  ): Promise<VerifiedToken> {
    const { alg, kid } = this.checkHeader(token);
    const imported = typeof kid === 'string' ? this.#keysOf(record).byKid.get(kid) : undefined;
    if (!imported) {
      throw new TokenError(
        'unknown_key',
        `the token's key id ${JSON.stringify(String(kid ?? '')).slice(0, 80)} is not among cluster ${record.id}'s published keys; publish the new key (idbridge sync) before the kube-apiserver signs with it`,
      );
    }
    if (imported.alg !== alg)
      throw new TokenError(
        'unknown_key',
        `no key of cluster ${record.id} matches the token's key id and algorithm ${alg}`,
      );

    let verifiedBytes: Uint8Array;
    try {
      ({ payload: verifiedBytes } = await compactVerify(
        token,
        imported.ready ?? (await imported.key),
        JOSE_OPTIONS[alg],
      ));
    } catch (err) {
      throw translate(err, record);
    }
    // Exactly one payload is judged: the bytes jose verified, never a copy decoded beforehand.
    const payload = decodeSegment(verifiedBytes);
    if (payload === null)
      throw new TokenError(
        'malformed',
        'the token payload is not a JSON object; a Kubernetes ServiceAccount token carries JSON claims',
      );
    return checkClaims(payload as JWTPayload, record, options, kid as string, alg);
  }

  /**
   * The checks that do not depend on any cluster (size, shape, header, "crit", algorithm), which
   * verify() makes first; callers that have no keys to verify with make them alone, so a token
   * gets the same answer whether or not its cluster exists.
   */
  checkHeader(token: string): { alg: SubjectTokenAlgorithm; kid: unknown } {
    checkShape(token);
    const header = this.#header(token.slice(0, token.indexOf('.')));
    if (header === null)
      throw new TokenError(
        'malformed',
        'the token header is not base64url JSON; send the projected ServiceAccount token file unchanged',
      );
    checkNoCritical(header);
    const refused = GOOGLE_RULES.alg({}, header, { issuer: '', now: 0, skewSeconds: 0 });
    if (refused) throw new TokenError(refused.failure, refused.refusal);
    return { alg: header.alg as SubjectTokenAlgorithm, kid: header.kid };
  }

  /** Tokens signed by one key share one header segment: decode each distinct one once. */
  #header(segment: string): Record<string, unknown> | null {
    const cached = this.#headers.get(segment);
    if (cached) return cached;
    const header = decodeSegment(segment);
    if (header === null || segment.length > MAX_CACHED_HEADER_LENGTH) return header;
    if (this.#headers.size >= MAX_CACHED_HEADERS)
      this.#headers.delete(this.#headers.keys().next().value as string);
    this.#headers.set(segment, Object.freeze(header));
    return header;
  }

  /** Imported keys of the record's current key list; keys that did not change are not re-imported. */
  #keysOf(record: ClusterRecord): ImportedKeys {
    const cached = this.#clusters.get(record.id);
    // Compared by content, not version: a cluster deleted and registered again restarts at version 1.
    if (cached && sameKeyList(cached.entries, record.keys)) return cached;
    const byKid = new Map<string, ImportedKey>();
    for (const { jwk } of record.keys) {
      if (jwk.alg !== 'RS256' && jwk.alg !== 'ES256') continue;
      // A key stored before the RSA rule existed and failing it (e.g. e = 1, forgeable) verifies nothing.
      if (keyFlaw(jwk) !== undefined) continue;
      const previous = cached?.byKid.get(jwk.kid);
      byKid.set(
        jwk.kid,
        previous && sameKey(previous.jwk, jwk) ? previous : importKey(jwk, jwk.alg),
      );
    }
    const keys: ImportedKeys = { entries: record.keys, byKid };
    this.#clusters.delete(record.id);
    this.#clusters.set(record.id, keys);
    if (this.#clusters.size > MAX_CACHED_CLUSTERS)
      this.#clusters.delete(this.#clusters.keys().next().value as string);
    return keys;
  }
}

function sameKeyList(a: readonly KeyEntry[], b: readonly KeyEntry[]): boolean {
  return (
    a === b ||
    (a.length === b.length &&
      a.every((entry, i) => entry.jwk === b[i]!.jwk || sameKey(entry.jwk, b[i]!.jwk)))
  );
}

function importKey(jwk: PublicJwk, alg: SubjectTokenAlgorithm): ImportedKey {
  const imported: ImportedKey = { jwk, alg, key: importJWK({ ...jwk }, alg) as Promise<CryptoKey> };
  // A key the platform cannot import fails the tokens signed with it, not the process.
  imported.key.then(
    (key) => {
      imported.ready = key;
    },
    () => {},
  );
  return imported;
}

function checkClaims(
  payload: JWTPayload,
  record: ClusterRecord,
  options: VerifyOptions,
  kid: string,
  alg: SubjectTokenAlgorithm,
): VerifiedToken {
  const refused = firstError(
    VERIFIER_CLAIM_RULES,
    payload,
    {},
    {
      issuer: record.issuer,
      now: Math.floor((options.now ?? Date.now)() / 1000),
      skewSeconds: options.clockSkewSeconds ?? 60,
      audiences: options.audiences,
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
    },
  );
  if (refused) throw new TokenError(refused.failure, refused.refusal);
  const { sub, aud, exp, iat } = payload;
  const audiences = typeof aud === 'string' ? [aud] : (aud as string[]);

  return {
    cluster: record.id,
    issuer: record.issuer,
    subject: sub!,
    audiences,
    ...kubernetesClaims(payload),
    kid,
    alg,
    issuedAt: iat!,
    expiresAt: exp!,
    payload,
  };
}

function translate(err: unknown, record: ClusterRecord): TokenError {
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new TokenError(
      'bad_signature',
      `the token's signature does not verify with cluster ${record.id}'s key of that id; the token was altered or signed by another key`,
    );
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new TokenError(
      'unsupported_algorithm',
      'the token is signed with an algorithm other than RS256 or ES256',
    );
  if (err instanceof errors.JOSENotSupported)
    return new TokenError(
      'unknown_key',
      `cluster ${record.id}'s key of that id cannot be used to verify the token`,
    );
  if (err instanceof errors.JOSEError)
    return new TokenError('malformed', 'the token could not be parsed as a signed JWT');
  if (err instanceof TypeError)
    return new TokenError(
      'unknown_key',
      `cluster ${record.id}'s key of that id could not be imported for verification`,
    );
  return new TokenError('malformed', 'the token could not be verified');
}
