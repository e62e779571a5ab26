import { createHash, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { IdbridgeError } from '../errors.js';
import type { PublicJwk } from '../oidc/jwks.js';
import { publishCluster, type ClusterDocuments } from '../oidc/published.js';
import type { FleetClaims } from './claims.js';
import { FLEET_SEGMENT } from './paths.js';
import { compactJws, signingInput } from './jws.js';
import type { FleetSigner, MintedToken } from './signer.js';

/** The one Cloud KMS algorithm the fleet signer takes: ES256's, so a KMS key and a local key mint alike. */
export const KMS_ALGORITHM = 'EC_SIGN_P256_SHA256';

export interface KmsSignerOptions {
  /** `projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N` */
  keyVersion: string;
  /** Other key versions published in the JWKS without signing (a rotation's next or previous one). */
  alsoPublish?: readonly string[];
  /** Cloud KMS base URL (IDBRIDGE_KMS_URL); tests point it at the fake. */
  kmsUrl: string;
  issuer: string;
  /**
   * An OAuth access token for Cloud KMS (Application Default Credentials by default); a failure
   * is thrown as an IdbridgeError naming its fix (from-config.ts, kmsCredentialError).
   */
  accessToken: () => Promise<string>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/**
 * Fleet tokens signed by Cloud KMS `asymmetricSign`: the private key never leaves KMS. The JWKS
 * holds the key version's public key (`getPublicKey`), read on first use. Rotation is the
 * operator's: docs/fleet.md.
 */
export class KmsFleetSigner implements FleetSigner {
  readonly #options: KmsSignerOptions;
  readonly #fetch: typeof fetch;
  #key: Promise<{ kid: string; docs: ClusterDocuments }> | undefined;
  #docs: ClusterDocuments | undefined;

  constructor(options: KmsSignerOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
  }

  async sign(claims: FleetClaims): Promise<MintedToken> {
    const { kid } = await this.#publicKey();
    const input = signingInput(kid, claims);
    const digest = createHash('sha256').update(input).digest('base64');
    const answer = (await this.#call(`${this.#options.keyVersion}:asymmetricSign`, {
      digest: { sha256: digest },
    })) as { signature?: unknown };
    if (typeof answer.signature !== 'string')
      throw new IdbridgeError(
        'bad_gateway',
        'Cloud KMS answered asymmetricSign without a signature',
      );
    return {
      token: compactJws(input, derToJose(Buffer.from(answer.signature, 'base64'))),
      kid,
    };
  }

  async documents(): Promise<ClusterDocuments> {
    return (await this.#publicKey()).docs;
  }

  peekDocuments(): ClusterDocuments | undefined {
    return this.#docs;
  }

  #publicKey(): Promise<{ kid: string; docs: ClusterDocuments }> {
    this.#key ??= this.#readPublicKey().catch((err: unknown) => {
      this.#key = undefined; // read again at the next call
      throw err;
    });
    return this.#key;
  }

  async #readPublicKey(): Promise<{ kid: string; docs: ClusterDocuments }> {
    const versions = [this.#options.keyVersion, ...(this.#options.alsoPublish ?? [])];
    const keys = await Promise.all(versions.map((version) => this.#publicJwk(version)));
    const docs = await publishCluster(FLEET_SEGMENT, this.#options.issuer, keys);
    this.#docs = docs;
    return { kid: keys[0]!.kid, docs };
  }

  async #publicJwk(version: string): Promise<PublicJwk> {
    const answer = (await this.#call(`${version}/publicKey`)) as {
      pem?: unknown;
      algorithm?: unknown;
    };
    if (answer.algorithm !== KMS_ALGORITHM || typeof answer.pem !== 'string')
      throw new IdbridgeError(
        'misconfigured',
        `the Cloud KMS key version ${version} is ${JSON.stringify(String(answer.algorithm).slice(0, 60))}; the fleet signer needs ${KMS_ALGORITHM} (create the key with --purpose=asymmetric-signing --default-algorithm=ec-sign-p256-sha256)`,
      );
    const jwk = createPublicKey(answer.pem).export({ format: 'jwk' });
    const kid = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! });
    return {
      kty: 'EC',
      crv: 'P-256',
      x: jwk.x!,
      y: jwk.y!,
      kid,
      alg: 'ES256',
      use: 'sig',
    } as PublicJwk;
  }

  async #call(path: string, body?: unknown): Promise<unknown> {
    const url = `${this.#options.kmsUrl}/v1/${path}`;
    // Before the request: a credential failure names its own fix, not KMS's reachability.
    const accessToken = await this.#options.accessToken();
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${accessToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new IdbridgeError(
        'unavailable',
        `Cloud KMS (${this.#options.kmsUrl}) cannot be reached: ${(err as Error).message.slice(0, 200)}; check IDBRIDGE_KMS_URL and the network`,
        [],
        { retryAfter: 1 },
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok && json && typeof json === 'object') return json;
    throw kmsRefusal(res, json, path);
  }
}

/**
 * What a refusal of Cloud KMS means for the operator: each names its fix. KMS's own message is
 * quoted (it names resources and permissions, never the caller's token).
 */
function kmsRefusal(res: Response, json: unknown, path: string): IdbridgeError {
  const error = (json as { error?: { message?: unknown; status?: unknown } } | undefined)?.error;
  const message = typeof error?.message === 'string' ? error.message.slice(0, 300) : '';
  const status = typeof error?.status === 'string' ? ` ${error.status.slice(0, 40)}` : '';
  const call = path.endsWith('/publicKey') ? 'getPublicKey' : 'asymmetricSign';
  const version = path.replace(/(?:\/publicKey|:asymmetricSign)$/, '');
  const said = `Cloud KMS answered ${res.status}${status} to ${call} on ${version}${message ? `: ${message}` : ''}`;
  switch (true) {
    case res.status === 401:
      return new IdbridgeError(
        'misconfigured',
        `${said}; it did not accept the broker's access token: check its Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or the metadata server's service account)`,
      );
    case res.status === 403:
      return new IdbridgeError(
        'misconfigured',
        `${said}; grant the broker's service account roles/cloudkms.signerVerifier on the key`,
      );
    case res.status === 404:
      return new IdbridgeError(
        'misconfigured',
        `${said}; the key version does not exist: check IDBRIDGE_FLEET_SIGNER and IDBRIDGE_FLEET_KMS_PUBLISH (gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N; gcloud kms keys versions list --key K --keyring R --location L)`,
      );
    case res.status === 400 && /FAILED_PRECONDITION/.test(status):
      return new IdbridgeError(
        'misconfigured',
        `${said}; enable the key version (gcloud kms keys versions enable N --key K --keyring R --location L) or point IDBRIDGE_FLEET_SIGNER at an enabled one`,
      );
    case res.status === 429:
      return new IdbridgeError(
        'unavailable',
        `${said}; Cloud KMS is limiting the broker's requests: retry shortly, and raise the project's Cloud KMS cryptographic request quota if it lasts`,
        [],
        { retryAfter: retryAfterOf(res) },
      );
    case res.status >= 500:
      return new IdbridgeError('unavailable', `${said}; Cloud KMS is failing: retry shortly`, [], {
        retryAfter: retryAfterOf(res),
      });
    default:
      return new IdbridgeError('bad_gateway', said);
  }
}

/** Seconds from KMS's Retry-After (1 to 60), else 1. */
function retryAfterOf(res: Response): number {
  const seconds = Number(res.headers.get('retry-after'));
  return Number.isInteger(seconds) && seconds >= 1 ? Math.min(seconds, 60) : 1;
}

/** An ECDSA signature as KMS gives it (DER SEQUENCE of two INTEGERs) → JWS's r‖s, 32 bytes each. */
export function derToJose(der: Buffer): Uint8Array {
  const fail = () =>
    new IdbridgeError(
      'bad_gateway',
      'Cloud KMS answered a signature that is not a DER ECDSA signature',
    );
  if (der[0] !== 0x30) throw fail();
  let offset = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const out = new Uint8Array(64);
  for (const slot of [0, 32]) {
    if (der[offset] !== 0x02) throw fail();
    const length = der[offset + 1]!;
    let value = der.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    while (value.length > 32 && value[0] === 0) value = value.subarray(1);
    if (value.length > 32 || value.length === 0) throw fail();
    out.set(value, slot + 32 - value.length);
  }
  return out;
}
