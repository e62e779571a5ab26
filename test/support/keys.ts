import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { PublicJwk } from '../../src/oidc/jwks.js';

export type TestAlgorithm = 'RS256' | 'ES256' | 'ES384' | 'ES512';

/** A cluster's service-account signing key, with its JWK shaped exactly as kube-apiserver publishes it. */
export interface ClusterKey {
  alg: TestAlgorithm;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: PublicJwk;
}

const CURVES = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const;

export function generateClusterKey(alg: TestAlgorithm = 'RS256', rsaBits = 2048): ClusterKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: rsaBits })
      : generateKeyPairSync('ec', { namedCurve: CURVES[alg] });
  // kube-apiserver's kid: base64url SHA-256 of the DER public key.
  const kid = createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('base64url');
  const exported = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const jwk: PublicJwk =
    alg === 'RS256'
      ? { use: 'sig', kty: 'RSA', kid, alg: 'RS256', n: exported.n!, e: exported.e! }
      : { use: 'sig', kty: 'EC', kid, crv: CURVES[alg], alg, x: exported.x!, y: exported.y! };
  return { alg, kid, privateKey, publicKey, jwk };
}

export function jwksOf(...keys: ClusterKey[]): { keys: PublicJwk[] } {
  return { keys: keys.map((key) => key.jwk) };
}

export interface KubeTokenOptions {
  issuer: string;
  audience: string | string[];
  namespace?: string;
  serviceAccount?: string;
  /** Seconds; defaults to one hour as kubelet requests. */
  lifetime?: number;
  /** Epoch seconds of issue; defaults to now. */
  issuedAt?: number;
  /** Overrides or extra claims (for hostile tokens). */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

/** A projected ServiceAccount token as kube-apiserver issues it. */
export async function signKubeToken(key: ClusterKey, options: KubeTokenOptions): Promise<string> {
  const namespace = options.namespace ?? 'default';
  const serviceAccount = options.serviceAccount ?? 'default';
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const exp = iat + (options.lifetime ?? 3600);
  const payload = {
    aud: Array.isArray(options.audience) ? options.audience : [options.audience],
    exp,
    iat,
    iss: options.issuer,
    jti: crypto.randomUUID(),
    'kubernetes.io': {
      namespace,
      node: { name: 'node-1', uid: crypto.randomUUID() },
      pod: { name: `${serviceAccount}-pod`, uid: crypto.randomUUID() },
      serviceaccount: { name: serviceAccount, uid: crypto.randomUUID() },
    },
    nbf: iat,
    sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
    ...options.claims,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...options.header })
    .sign(key.privateKey);
}

/**
 * Signs `payload` (raw bytes of the payload segment, or claims to base64url-encode) under any
 * protected header, RS256 with node:crypto: what an attacker holding the key sends, with none of
 * jose's signing-side checks (e.g. "crit" extensions it does not know).
 */
export function signRawRs256(
  key: ClusterKey,
  header: Record<string, unknown>,
  payload: string | Record<string, unknown>,
): string {
  const segment =
    typeof payload === 'string'
      ? payload
      : Buffer.from(JSON.stringify(payload)).toString('base64url');
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${segment}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
}

/** The claims of a compact token, decoded without verification (for re-signing them in tests). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** DigestInfo prefix of SHA-256 in an RSASSA-PKCS1-v1_5 signature (RFC 8017 §9.2). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * The attack on an RSA "key" with e = 1: s^1 mod n = s, so the PKCS#1 v1.5 encoding of the
 * signing input is its own valid RS256 signature. No private key is involved.
 */
export function forgeRs256ForExponentOne(
  modulusBytes: number,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const t = Buffer.concat([SHA256_DIGEST_INFO, createHash('sha256').update(input).digest()]);
  const encoded = Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.alloc(modulusBytes - t.length - 3, 0xff),
    Buffer.from([0]),
    t,
  ]);
  return `${input}.${encoded.toString('base64url')}`;
}
