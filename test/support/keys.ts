import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
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
  const { privateKey, publicKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: rsaBits })
    : generateKeyPairSync('ec', { namedCurve: CURVES[alg] });
  // kube-apiserver's kid: base64url SHA-256 of the DER public key.
  const kid = createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64url');
  const exported = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const jwk: PublicJwk = alg === 'RS256'
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
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...options.header }).sign(key.privateKey);
}
