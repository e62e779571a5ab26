import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { IdbridgeError } from '../errors.js';
import type { ClusterRecord } from '../registry/record.js';

/** Why a token was refused; callers map these to their protocol (401, STS invalid_grant, …). */
export type TokenFailure =
  | 'malformed'
  | 'too_large'
  | 'unsupported_algorithm'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'lifetime_too_long'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_subject';

export class TokenError extends IdbridgeError {
  constructor(readonly failure: TokenFailure, message: string) {
    super('unauthenticated', message);
  }
}

/** Google STS accepts only these for subject tokens; so does idbridge. */
export const SUBJECT_TOKEN_ALGORITHMS = ['RS256', 'ES256'] as const;
/** Google STS refuses tokens whose lifetime (exp - iat) is 48 hours or more. */
export const MAX_TOKEN_LIFETIME_SECONDS = 48 * 3600;
/** Far above any real projected token (about 1 KiB), far below harm. */
export const MAX_TOKEN_BYTES = 16 * 1024;

export interface VerifyOptions {
  /** The token's `aud` must contain at least one of these. */
  audiences: readonly string[];
  /** When set, `sub` must equal it exactly. */
  subject?: string;
  /** Tolerance for exp/nbf/iat against the clock, seconds. Default 60. */
  clockSkewSeconds?: number;
  /** Current time, epoch milliseconds. Default Date.now. */
  now?: () => number;
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

/**
 * The unverified `iss` of a token, to pick the cluster whose keys will verify it. Nothing else
 * from an unverified token is trusted.
 */
export function unverifiedIssuer(token: string): string {
  checkShape(token);
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch {
    throw new TokenError('malformed', 'the token is not a JWT (three base64url parts with a JSON header and payload); send the projected ServiceAccount token file unchanged');
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') throw new TokenError('malformed', 'the token has no "iss" claim; a Kubernetes ServiceAccount token always has one');
  return payload.iss;
}

function checkShape(token: string): void {
  if (token.length > MAX_TOKEN_BYTES) throw new TokenError('too_large', `the token is larger than ${MAX_TOKEN_BYTES / 1024} KiB; a ServiceAccount token is about 1 KiB — check what is being sent`);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new TokenError('malformed', 'the token is not a compact JWT (header.payload.signature in base64url); send the projected ServiceAccount token file unchanged');
  }
}

/**
 * Verifies a Kubernetes ServiceAccount token against the keys on record for its cluster: the
 * signature (RS256/ES256 only), `iss` equal to the cluster's issuer, `aud`, `exp`/`nbf`/`iat`
 * with a small skew, and a lifetime under 48 hours, as Google STS requires.
 */
export class SubjectTokenVerifier {
  /** Key sets per cluster record version: imported once, reused until the keys change. */
  readonly #keySets = new Map<string, { version: number; keys: ReturnType<typeof createLocalJWKSet> }>();

  async verify(token: string, record: ClusterRecord, options: VerifyOptions): Promise<VerifiedToken> {
    checkShape(token);
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError('malformed', 'the token header is not base64url JSON; send the projected ServiceAccount token file unchanged');
    }
    if (!SUBJECT_TOKEN_ALGORITHMS.includes(header.alg as (typeof SUBJECT_TOKEN_ALGORITHMS)[number])) {
      throw new TokenError('unsupported_algorithm', `the token is signed ${JSON.stringify(header.alg)}; only RS256 and ES256 are accepted (Google STS accepts no others): give the kube-apiserver an RSA or EC P-256 signing key`);
    }
    if (typeof header.kid !== 'string' || !record.keys.some((key) => key.jwk.kid === header.kid)) {
      throw new TokenError('unknown_key', `the token's key id ${JSON.stringify(String(header.kid ?? '')).slice(0, 80)} is not among cluster ${record.id}'s published keys; publish the new key (idbridge sync) before the kube-apiserver signs with it`);
    }

    const skew = options.clockSkewSeconds ?? 60;
    const nowMs = (options.now ?? Date.now)();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keysOf(record), {
        algorithms: [...SUBJECT_TOKEN_ALGORITHMS],
        issuer: record.issuer,
        clockTolerance: skew,
        currentDate: new Date(nowMs),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      }));
    } catch (err) {
      throw translate(err, record);
    }

    const now = Math.floor(nowMs / 1000);
    const iat = payload.iat!;
    const exp = payload.exp!;
    if (iat > now + skew) throw new TokenError('issued_in_future', `the token was issued ${iat - now} s in the future; fix the clock of the cluster's nodes or of this server (allowed skew ${skew} s)`);
    if (exp - iat >= MAX_TOKEN_LIFETIME_SECONDS) {
      throw new TokenError('lifetime_too_long', `the token is valid for ${Math.round((exp - iat) / 3600)} h; Google STS requires less than 48 h: request a shorter expirationSeconds in the projected volume`);
    }
    const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    if (!audiences.some((aud) => options.audiences.includes(aud))) {
      throw new TokenError('wrong_audience', `the token's audience ${JSON.stringify(audiences).slice(0, 200)} is not one accepted here (${options.audiences.map((a) => JSON.stringify(a)).join(', ').slice(0, 300)}); set the projected volume's audience accordingly`);
    }
    if (options.subject !== undefined && payload.sub !== options.subject) {
      throw new TokenError('wrong_subject', `the token belongs to ${JSON.stringify(payload.sub).slice(0, 200)}, not to ${JSON.stringify(options.subject)}`);
    }

    const kube = (payload['kubernetes.io'] ?? {}) as { namespace?: unknown; serviceaccount?: { name?: unknown }; pod?: { name?: unknown } };
    return {
      cluster: record.id,
      issuer: record.issuer,
      subject: payload.sub!,
      audiences,
      ...(typeof kube.namespace === 'string' ? { namespace: kube.namespace } : {}),
      ...(typeof kube.serviceaccount?.name === 'string' ? { serviceAccount: kube.serviceaccount.name } : {}),
      ...(typeof kube.pod?.name === 'string' ? { pod: kube.pod.name } : {}),
      kid: header.kid,
      alg: header.alg!,
      issuedAt: iat,
      expiresAt: exp,
      payload,
    };
  }

  #keysOf(record: ClusterRecord): ReturnType<typeof createLocalJWKSet> {
    const cached = this.#keySets.get(record.id);
    if (cached && cached.version === record.version) return cached.keys;
    const keys = createLocalJWKSet({ keys: record.keys.map((key) => ({ ...key.jwk })) });
    this.#keySets.set(record.id, { version: record.version, keys });
    return keys;
  }
}

function translate(err: unknown, record: ClusterRecord): TokenError {
  if (err instanceof errors.JWTExpired) return new TokenError('expired', 'the token has expired; kubelet refreshes projected tokens — read the token file again rather than caching it');
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenError('bad_signature', `the token's signature does not verify with cluster ${record.id}'s key of that id; the token was altered or signed by another key`);
  if (err instanceof errors.JWKSNoMatchingKey) return new TokenError('unknown_key', `no key of cluster ${record.id} matches the token's key id and algorithm`);
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError('unsupported_algorithm', 'the token is signed with an algorithm other than RS256 or ES256');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return new TokenError('wrong_issuer', `the token's issuer is not ${record.issuer}; set --service-account-issuer=${record.issuer} on the kube-apiserver`);
      case 'nbf':
        return new TokenError('not_yet_valid', 'the token is not valid yet (nbf is in the future); check the clocks');
      default:
        return new TokenError('malformed', `the token's "${err.claim}" claim is missing or invalid; a Kubernetes ServiceAccount token has iss, sub, aud, exp and iat`);
    }
  }
  if (err instanceof errors.JOSEError) return new TokenError('malformed', 'the token could not be parsed as a signed JWT');
  return new TokenError('malformed', 'the token could not be verified');
}
