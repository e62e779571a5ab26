import { byteLength, googleAccepts } from '../oidc/jwks.js';

/**
 * Google STS's rules for a subject token, stated once as pure functions of the token's header and
 * claims. Two drivers use them: the verifier (src/verify/subject-token.ts) stops at the first
 * error, in its order, and refuses with the rule's `refusal`; doctor (src/doctor/token-checks.ts)
 * runs every rule and reports each finding in its own words, with the fix.
 */

/** Why a token was refused; callers map these to their protocol (401, STS invalid_grant, …). */
export type TokenFailure =
  | 'malformed'
  | 'critical_header'
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

/** Google STS refuses tokens whose lifetime (exp - iat) is 48 hours or more. */
export const MAX_TOKEN_LIFETIME_SECONDS = 48 * 3600;
/** Google refuses a mapped google.subject longer than this. */
export const GOOGLE_SUBJECT_MAX_BYTES = 127;

export type RuleName =
  | 'alg'
  | 'claims'
  | 'iss'
  | 'nbf'
  | 'exp'
  | 'iat'
  | 'lifetime'
  | 'aud'
  | 'subject'
  | 'subject_length';

export interface RuleContext {
  /** The issuer the token must carry, byte for byte. */
  issuer: string;
  /** Current time, epoch seconds. */
  now: number;
  /** Clock difference tolerated on nbf, exp and iat, seconds. */
  skewSeconds: number;
  /** The audiences accepted; when absent the audience is not judged. */
  audiences?: readonly string[];
  /** When set, `sub` must equal it exactly. */
  subject?: string;
}

export interface RuleFinding {
  rule: RuleName;
  /** An error refuses the token; a warning is reported by doctor and ignored by the verifier. */
  severity: 'error' | 'warning';
  failure: TokenFailure;
  /** The verifier's words for it. */
  refusal: string;
}

export type TokenClaims = Readonly<Record<string, unknown>>;
export type TokenHeader = Readonly<Record<string, unknown>>;
export type GoogleRule = (
  claims: TokenClaims,
  header: TokenHeader,
  context: RuleContext,
) => RuleFinding | null;

function error(rule: RuleName, failure: TokenFailure, refusal: string): RuleFinding {
  return { rule, severity: 'error', failure, refusal };
}

/** The audiences a token names (`aud` as a string or a list of strings). */
export function tokenAudiences(claims: TokenClaims): string[] {
  const { aud } = claims;
  return typeof aud === 'string'
    ? [aud]
    : Array.isArray(aud)
      ? aud.filter((a): a is string => typeof a === 'string')
      : [];
}

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

export const GOOGLE_RULES: Readonly<Record<RuleName, GoogleRule>> = {
  alg: (_claims, header) => {
    if (googleAccepts(header.alg)) return null;
    return error(
      'alg',
      'unsupported_algorithm',
      `the token is signed ${JSON.stringify(header.alg ?? null).slice(0, 40)}; only RS256 and ES256 are accepted (Google STS accepts no others): give the kube-apiserver an RSA or EC P-256 signing key`,
    );
  },
  claims: (claims) => {
    const { iss, sub, aud, nbf } = claims;
    const invalid =
      typeof iss !== 'string'
        ? 'iss'
        : typeof sub !== 'string' || sub === ''
          ? 'sub'
          : !(
                typeof aud === 'string' ||
                (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string'))
              )
            ? 'aud'
            : num(claims.exp) === undefined
              ? 'exp'
              : num(claims.iat) === undefined
                ? 'iat'
                : nbf !== undefined && num(nbf) === undefined
                  ? 'nbf'
                  : undefined;
    if (!invalid) return null;
    return error(
      'claims',
      'malformed',
      `the token's "${invalid}" claim is missing or invalid; a Kubernetes ServiceAccount token has iss, sub, aud, exp and iat`,
    );
  },
  iss: (claims, _header, { issuer }) => {
    if (claims.iss === issuer) return null;
    if (typeof claims.iss !== 'string')
      return error(
        'iss',
        'malformed',
        'the token\'s "iss" claim is missing or invalid; a Kubernetes ServiceAccount token has iss, sub, aud, exp and iat',
      );
    return error(
      'iss',
      'wrong_issuer',
      `the token's issuer is not ${issuer}; set --service-account-issuer=${issuer} on the kube-apiserver`,
    );
  },
  nbf: (claims, _header, { now, skewSeconds }) => {
    const nbf = num(claims.nbf);
    return nbf !== undefined && nbf > now + skewSeconds
      ? error(
          'nbf',
          'not_yet_valid',
          'the token is not valid yet (nbf is in the future); check the clocks',
        )
      : null;
  },
  exp: (claims, _header, { now, skewSeconds }) => {
    const exp = num(claims.exp);
    if (exp === undefined || exp > now) return null;
    const refusal =
      'the token has expired; kubelet refreshes projected tokens — read the token file again rather than caching it';
    // Expired by less than the skew: the verifier still accepts it, Google may not.
    return {
      rule: 'exp',
      severity: exp <= now - skewSeconds ? 'error' : 'warning',
      failure: 'expired',
      refusal,
    };
  },
  iat: (claims, _header, { now, skewSeconds }) => {
    const iat = num(claims.iat);
    if (iat === undefined || iat <= now) return null;
    const refusal = `the token was issued ${iat - now} s in the future; fix the clock of the cluster's nodes or of this server (allowed skew ${skewSeconds} s)`;
    return {
      rule: 'iat',
      severity: iat > now + skewSeconds ? 'error' : 'warning',
      failure: 'issued_in_future',
      refusal,
    };
  },
  lifetime: (claims) => {
    const iat = num(claims.iat);
    const exp = num(claims.exp);
    if (iat === undefined || exp === undefined)
      return error(
        'lifetime',
        'malformed',
        'the token\'s "exp" or "iat" claim is missing or invalid; a Kubernetes ServiceAccount token has iss, sub, aud, exp and iat',
      );
    if (exp - iat < MAX_TOKEN_LIFETIME_SECONDS) return null;
    return error(
      'lifetime',
      'lifetime_too_long',
      `the token is valid for ${Math.round((exp - iat) / 3600)} h; Google STS requires less than 48 h: request a shorter expirationSeconds in the projected volume`,
    );
  },
  aud: (claims, _header, { audiences: accepted }) => {
    if (accepted === undefined) return null;
    const audiences = tokenAudiences(claims);
    if (audiences.some((a) => accepted.includes(a))) return null;
    return error(
      'aud',
      'wrong_audience',
      `the token's audience ${JSON.stringify(audiences).slice(0, 200)} is not one accepted here (${accepted
        .map((a) => JSON.stringify(a))
        .join(', ')
        .slice(0, 300)}); set the projected volume's audience accordingly`,
    );
  },
  subject: (claims, _header, { subject }) => {
    if (subject === undefined || claims.sub === subject) return null;
    return error(
      'subject',
      'wrong_subject',
      `the token belongs to ${JSON.stringify(claims.sub).slice(0, 200)}, not to ${JSON.stringify(subject)}`,
    );
  },
  subject_length: (claims) => {
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    if (sub === '')
      return error(
        'subject_length',
        'malformed',
        'the token\'s "sub" claim is missing or invalid; a Kubernetes ServiceAccount token has iss, sub, aud, exp and iat',
      );
    if (byteLength(sub) <= GOOGLE_SUBJECT_MAX_BYTES) return null;
    return error(
      'subject_length',
      'wrong_subject',
      `the token's sub is ${byteLength(sub)} bytes, over Google's ${GOOGLE_SUBJECT_MAX_BYTES}-byte limit for google.subject`,
    );
  },
};

/**
 * The verifier's order after the signature: every claim present, then the issuer, the clock, the
 * lifetime, the audience and the subject. (`alg` is judged before the signature, `subject_length`
 * is left to Google's own mapping of google.subject.)
 */
export const VERIFIER_CLAIM_RULES: readonly RuleName[] = [
  'claims',
  'iss',
  'nbf',
  'exp',
  'iat',
  'lifetime',
  'aud',
  'subject',
];

/** The verifier's driver: the first error among `rules`, in order, or null. */
export function firstError(
  rules: readonly RuleName[],
  claims: TokenClaims,
  header: TokenHeader,
  context: RuleContext,
): RuleFinding | null {
  for (const name of rules) {
    const finding = GOOGLE_RULES[name](claims, header, context);
    if (finding?.severity === 'error') return finding;
  }
  return null;
}

/** Doctor's driver: every rule's finding (null where the token passes it). */
export function judgeToken(
  claims: TokenClaims,
  header: TokenHeader,
  context: RuleContext,
): Record<RuleName, RuleFinding | null> {
  const findings = {} as Record<RuleName, RuleFinding | null>;
  for (const name of Object.keys(GOOGLE_RULES) as RuleName[])
    findings[name] = GOOGLE_RULES[name](claims, header, context);
  return findings;
}
