import { base64url as b64u, importJWK } from 'jose';
import { z } from 'zod';
import { IdbridgeError, type ErrorDetail } from '../errors.js';
import { MAX_DOCUMENT_BYTES, MAX_KEYS, MAX_KID_LENGTH } from './limits.js';

/** The algorithms a Kubernetes service-account issuer signs with, by key type and curve. */
export type SigningAlgorithm = 'RS256' | 'ES256' | 'ES384' | 'ES512';

/** Google STS verifies subject tokens signed with these only. */
export const GOOGLE_ACCEPTED_ALGORITHMS = ['RS256', 'ES256'] as const satisfies readonly SigningAlgorithm[];
export type GoogleAcceptedAlgorithm = (typeof GOOGLE_ACCEPTED_ALGORITHMS)[number];

export type PublicJwk =
  | { use: 'sig'; kty: 'RSA'; kid: string; alg: 'RS256'; n: string; e: string }
  | { use: 'sig'; kty: 'EC'; kid: string; crv: 'P-256' | 'P-384' | 'P-521'; alg: 'ES256' | 'ES384' | 'ES512'; x: string; y: string };

export interface Jwks {
  keys: PublicJwk[];
}

export interface ValidatedJwks extends Jwks {
  /** Things that are accepted but will not work everywhere, e.g. an algorithm Google refuses. */
  warnings: string[];
}

export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
export const MIN_RSA_BITS = 2048;
const CURVE_ALGORITHM = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const;

/** The algorithm an EC key of curve `crv` signs with; undefined for a curve Kubernetes does not use. */
export function curveAlgorithm(crv: unknown): SigningAlgorithm | undefined {
  return typeof crv === 'string' && Object.hasOwn(CURVE_ALGORITHM, crv) ? CURVE_ALGORITHM[crv as keyof typeof CURVE_ALGORITHM] : undefined;
}

const base64url = z.string().min(1).max(2048).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding');

const commonMembers = {
  kid: z.string().min(1, 'must not be empty').max(MAX_KID_LENGTH),
  use: z.literal('sig', { error: 'must be "sig": only signing keys belong in an issuer JWKS' }).optional(),
  key_ops: z.array(z.literal('verify', { error: 'only "verify" is allowed for a public signing key' })).optional(),
};

const rsaKey = z.looseObject({
  kty: z.literal('RSA'),
  ...commonMembers,
  alg: z.literal('RS256', { error: 'an RSA key of a Kubernetes issuer signs RS256; set alg to "RS256" or omit it' }).optional(),
  n: base64url,
  e: base64url.max(16),
});

const ecKey = z.looseObject({
  kty: z.literal('EC'),
  ...commonMembers,
  crv: z.enum(['P-256', 'P-384', 'P-521'], { error: 'curve must be P-256, P-384 or P-521' }),
  alg: z.enum(['ES256', 'ES384', 'ES512']).optional(),
  x: base64url,
  y: base64url,
});

const jwksShape = z.looseObject({
  keys: z
    .array(z.record(z.string(), z.unknown()), { error: '"keys" must be an array of JSON objects' })
    .min(1, 'the key set is empty: publish at least the key your kube-apiserver signs with')
    .max(MAX_KEYS, `at most ${MAX_KEYS} keys are accepted; remove keys no longer used for signing`),
});

/** Bits of an RSA modulus given as base64url, ignoring leading zero bytes. */
export function rsaModulusBits(n: string): number {
  const bytes = b64u.decode(n);
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

function zodDetails(prefix: string, error: z.ZodError): ErrorDetail[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message: issue.message,
  }));
}

async function validateKey(raw: Record<string, unknown>, path: string): Promise<{ key?: PublicJwk; problems: ErrorDetail[] }> {
  const privateMembers = PRIVATE_MEMBERS.filter((m) => m in raw);
  if (raw.kty === 'oct' || 'k' in raw) {
    return { problems: [{ path, message: 'symmetric ("oct") keys are secrets and never belong in a public JWKS; publish only the public half of an RSA or EC key' }] };
  }
  if (privateMembers.length > 0) {
    return {
      problems: [{
        path,
        message: `contains private key material (${privateMembers.join(', ')}); publish only the public key — this key must now be treated as leaked and rotated`,
      }],
    };
  }
  if (raw.kty !== 'RSA' && raw.kty !== 'EC') {
    return { problems: [{ path: `${path}.kty`, message: `key type ${JSON.stringify(raw.kty)} is not supported; use an RSA (2048+ bits) or EC P-256 signing key` }] };
  }

  let key: PublicJwk;
  if (raw.kty === 'RSA') {
    const parsed = rsaKey.safeParse(raw);
    if (!parsed.success) return { problems: zodDetails(path, parsed.error) };
    const bits = rsaModulusBits(parsed.data.n);
    if (bits < MIN_RSA_BITS) {
      return { problems: [{ path: `${path}.n`, message: `RSA key is ${bits} bits; at least ${MIN_RSA_BITS} bits are required` }] };
    }
    key = { use: 'sig', kty: 'RSA', kid: parsed.data.kid, alg: 'RS256', n: parsed.data.n, e: parsed.data.e };
  } else {
    const parsed = ecKey.safeParse(raw);
    if (!parsed.success) return { problems: zodDetails(path, parsed.error) };
    const alg = CURVE_ALGORITHM[parsed.data.crv];
    if (parsed.data.alg !== undefined && parsed.data.alg !== alg) {
      return { problems: [{ path: `${path}.alg`, message: `curve ${parsed.data.crv} signs ${alg}, but alg says ${parsed.data.alg}` }] };
    }
    key = { use: 'sig', kty: 'EC', kid: parsed.data.kid, crv: parsed.data.crv, alg, x: parsed.data.x, y: parsed.data.y };
  }

  try {
    // The real test of key material: the platform's crypto must accept it as a public key.
    await importJWK(key, key.alg);
  } catch {
    return { problems: [{ path, message: `not a valid ${key.kty} public key (the key material does not import); re-export it from the cluster's /openid/v1/jwks` }] };
  }
  return { key, problems: [] };
}

/**
 * Validates a JWKS as a Kubernetes service-account issuer publishes it and returns it in the
 * canonical public form idbridge republishes (members in kube-apiserver's order, nothing else).
 */
export async function validateJwks(input: unknown): Promise<ValidatedJwks> {
  if (typeof input === 'string') {
    if (byteLength(input) > MAX_DOCUMENT_BYTES) throw tooLarge('JWKS');
    try {
      input = JSON.parse(input);
    } catch {
      throw new IdbridgeError('invalid_jwks', 'the JWKS is not valid JSON; send the body of the cluster\'s /openid/v1/jwks unchanged');
    }
  } else if (byteLength(JSON.stringify(input) ?? '') > MAX_DOCUMENT_BYTES) {
    throw tooLarge('JWKS');
  }

  const shape = jwksShape.safeParse(input);
  if (!shape.success) {
    const details = zodDetails('', shape.error);
    throw new IdbridgeError('invalid_jwks', `the JWKS must be a JSON object {"keys": [...]} with 1 to ${MAX_KEYS} public keys: ${details.map((d) => `${d.path || 'jwks'}: ${d.message}`).join('; ')}`, details);
  }

  const problems: ErrorDetail[] = [];
  const keys: PublicJwk[] = [];
  const seenKids = new Set<string>();
  for (const [i, raw] of shape.data.keys.entries()) {
    const path = `keys[${i}]`;
    if (typeof raw.kid !== 'string' || raw.kid === '') {
      problems.push({ path: `${path}.kid`, message: 'every key needs a non-empty "kid": verifiers select the key by the token\'s kid' });
      continue;
    }
    if (seenKids.has(raw.kid)) {
      problems.push({ path: `${path}.kid`, message: `kid ${JSON.stringify(raw.kid)} appears more than once; each key needs its own kid` });
      continue;
    }
    seenKids.add(raw.kid);
    const result = await validateKey(raw, path);
    problems.push(...result.problems);
    if (result.key) keys.push(result.key);
  }
  if (problems.length > 0) {
    throw new IdbridgeError('invalid_jwks', `the JWKS was refused: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  }
  return { keys, warnings: keys.flatMap(keyWarnings) };
}

/** Warnings about a key that is valid but that Google STS will not accept. */
export function keyWarnings(key: PublicJwk): string[] {
  if (googleAccepts(key.alg)) return [];
  return [`key ${JSON.stringify(key.kid)} signs ${key.alg}, which Google STS refuses (RS256 and ES256 only): give the kube-apiserver an RSA or EC P-256 --service-account-signing-key-file`];
}

export function googleAccepts(alg: unknown): alg is GoogleAcceptedAlgorithm {
  return (GOOGLE_ACCEPTED_ALGORITHMS as readonly unknown[]).includes(alg);
}

export function byteLength(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

function tooLarge(what: string): IdbridgeError {
  return new IdbridgeError('payload_too_large', `the ${what} is larger than ${MAX_DOCUMENT_BYTES / 1024} KiB; an issuer document is never that large — check that you are sending the right file`);
}
