import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { Hono } from 'hono';
import { serveOnLoopback } from '../support/net.js';

/**
 * A fake of Cloud KMS's REST API for asymmetric signing keys, as the fleet signer uses it:
 * `GET /v1/{name}/publicKey` and `POST /v1/{name}:asymmetricSign` with `{"digest":{"sha256"}}`,
 * answering in KMS's shapes (PEM and algorithm; a base64 DER ECDSA signature; errors as
 * `{"error":{"code","message","status"}}`). Like KMS it checks the bearer token's permission on
 * the key version (403 for a key the caller may not use, whether or not it exists), the digest's
 * length (400), a disabled version (400 FAILED_PRECONDITION); a version missing under a key the
 * caller may use is 404 NOT_FOUND. Keys are EC_SIGN_P256_SHA256 unless made with another
 * algorithm (then their public key is RSA, and asymmetricSign is not faked for them).
 */
export interface FakeKms {
  url: string;
  /**
   * Makes (or replaces) a key version that `callers` may use: bearer tokens, or a check of one
   * (e.g. who the fake Google says a token stands for); returns its resource name.
   */
  addKeyVersion(
    name: string,
    callers: readonly string[] | ((token: string) => boolean),
    options?: { algorithm?: string },
  ): string;
  disable(name: string): void;
  /** The P-256 public key of an EC version (JWK x, y), as getPublicKey gives it in PEM. */
  publicJwk(name: string): { x: string; y: string };
  /** The next `count` calls to any key version answer this error, in KMS's shape. */
  failNext(fault: KmsFault, count?: number): void;
  calls: { publicKey: number; asymmetricSign: number };
  /** The bearer tokens of every call, in order (tests check the broker's identity). */
  bearers: string[];
  close(): Promise<void>;
}

export interface KmsFault {
  code: number;
  status: string;
  message: string;
  retryAfter?: string;
}

interface KeyVersion {
  privateKey: KeyObject;
  d: bigint;
  may: (token: string) => boolean;
  enabled: boolean;
  algorithm: string;
}

/** `projects/…/cryptoKeys/K` of `projects/…/cryptoKeys/K/cryptoKeyVersions/N`. */
const cryptoKeyOf = (name: string) => name.replace(/\/cryptoKeyVersions\/[^/]+$/, '');

export async function startFakeKms(): Promise<FakeKms> {
  const keys = new Map<string, KeyVersion>();
  const calls = { publicKey: 0, asymmetricSign: 0 };
  const bearers: string[] = [];
  const faults: KmsFault[] = [];
  const app = new Hono();
  const error = (code: number, status: string, message: string, retryAfter?: string) =>
    new Response(JSON.stringify({ error: { code, message, status } }), {
      status: code,
      headers: {
        'content-type': 'application/json; charset=UTF-8',
        ...(retryAfter ? { 'retry-after': retryAfter } : {}),
      },
    });
  const allowed = (name: string, authorization: string | undefined, permission: string) => {
    const key = keys.get(name);
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token)
      return error(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    bearers.push(token);
    const fault = faults.shift();
    if (fault) return error(fault.code, fault.status, fault.message, fault.retryAfter);
    // Like KMS: a caller allowed on the key learns that a version of it does not exist.
    if (
      !key &&
      [...keys].some(
        ([other, version]) => cryptoKeyOf(other) === cryptoKeyOf(name) && version.may(token),
      )
    )
      return error(404, 'NOT_FOUND', `CryptoKeyVersion ${name} not found.`);
    if (!key || !key.may(token))
      return error(
        403,
        'PERMISSION_DENIED',
        `Permission '${permission}' denied on resource '${name}' (or it may not exist).`,
      );
    if (!key.enabled)
      return error(
        400,
        'FAILED_PRECONDITION',
        `${name} is not enabled, current state is: DISABLED.`,
      );
    return key;
  };

  app.get('/v1/*', (c) => {
    const path = c.req.path.slice('/v1/'.length);
    if (!path.endsWith('/publicKey')) return error(404, 'NOT_FOUND', 'Not found');
    const name = path.slice(0, -'/publicKey'.length);
    calls.publicKey++;
    const key = allowed(
      name,
      c.req.header('authorization'),
      'cloudkms.cryptoKeyVersions.viewPublicKey',
    );
    if (key instanceof Response) return key;
    const pem = createPublicKey(key.privateKey).export({ format: 'pem', type: 'spki' }).toString();
    return c.json({
      pem,
      algorithm: key.algorithm,
      pemCrc32c: '0',
      name,
      protectionLevel: 'SOFTWARE',
    });
  });

  app.post('/v1/*', async (c) => {
    const path = c.req.path.slice('/v1/'.length);
    if (!path.endsWith(':asymmetricSign')) return error(404, 'NOT_FOUND', 'Not found');
    const name = path.slice(0, -':asymmetricSign'.length);
    calls.asymmetricSign++;
    const key = allowed(
      name,
      c.req.header('authorization'),
      'cloudkms.cryptoKeyVersions.useToSign',
    );
    if (key instanceof Response) return key;
    if (key.d === 0n) throw new Error(`the KMS fake signs with EC_SIGN_P256_SHA256 keys only`);
    const body = (await c.req.json().catch(() => null)) as { digest?: { sha256?: unknown } } | null;
    const encoded = body?.digest?.sha256;
    const digest = typeof encoded === 'string' ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
    if (digest.length !== 32)
      return error(
        400,
        'INVALID_ARGUMENT',
        'The provided digest has an incorrect length. Expected a SHA-256 digest of 32 bytes.',
      );
    return c.json({
      signature: ecdsaDer(key.d, digest).toString('base64'),
      name,
      protectionLevel: 'SOFTWARE',
    });
  });

  const server = await serveOnLoopback(app);
  return {
    url: server.url,
    calls,
    bearers,
    addKeyVersion(name, callers, options = {}) {
      const algorithm = options.algorithm ?? 'EC_SIGN_P256_SHA256';
      const { privateKey } = algorithm.startsWith('EC_SIGN_P256')
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const jwk = privateKey.export({ format: 'jwk' });
      const d =
        jwk.kty === 'EC' ? BigInt(`0x${Buffer.from(jwk.d!, 'base64url').toString('hex')}`) : 0n;
      const may =
        typeof callers === 'function'
          ? callers
          : (token: string) => (callers as readonly string[]).includes(token);
      keys.set(name, { privateKey, d, may, enabled: true, algorithm });
      return name;
    },
    disable(name) {
      keys.get(name)!.enabled = false;
    },
    publicJwk(name) {
      const jwk = createPublicKey(keys.get(name)!.privateKey).export({ format: 'jwk' });
      if (jwk.kty !== 'EC') throw new Error(`${name} is not an EC key version`);
      return { x: jwk.x!, y: jwk.y! };
    },
    failNext(fault, count = 1) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    close: server.close,
  };
}

// P-256 ECDSA over a given digest, as KMS signs (node:crypto hashes its input itself, so it cannot).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const G: [bigint, bigint] = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
type Point = [bigint, bigint] | null;
function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p[0] === q[0] && mod(p[1] + q[1], P) === 0n) return null;
  const l =
    p[0] === q[0] && p[1] === q[1]
      ? mod((3n * p[0] * p[0] + A) * inverse(2n * p[1], P), P)
      : mod((q[1] - p[1]) * inverse(q[0] - p[0], P), P);
  const x = mod(l * l - p[0] - q[0], P);
  return [x, mod(l * (p[0] - x) - p[1], P)];
}
function multiply(k: bigint, point: Point): Point {
  let result: Point = null;
  let addend = point;
  while (k > 0n) {
    if (k & 1n) result = add(result, addend);
    addend = add(addend, addend);
    k >>= 1n;
  }
  return result;
}
function ecdsaDer(d: bigint, digest: Buffer): Buffer {
  const z = BigInt(`0x${digest.toString('hex')}`);
  for (;;) {
    const k = mod(BigInt(`0x${randomBytes(32).toString('hex')}`), N);
    if (k === 0n) continue;
    const r = mod(multiply(k, G)![0], N);
    const s = mod(inverse(k, N) * (z + r * d), N);
    if (r !== 0n && s !== 0n) return der(r, s);
  }
}
function der(r: bigint, s: bigint): Buffer {
  const integer = (v: bigint) => {
    let bytes = Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
    while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) bytes = bytes.subarray(1);
    if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  };
  const body = Buffer.concat([integer(r), integer(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
