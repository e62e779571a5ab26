import { createPrivateKey, sign as signBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { IdbridgeError, StoreConflictError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { PublicJwk } from '../oidc/jwks.js';
import { publishCluster, type ClusterDocuments } from '../oidc/published.js';
import type { ClusterStore } from '../registry/store.js';
import type { FleetClaims } from './claims.js';
import { compactJws, signingInput } from './jws.js';
import {
  FLEET_KEYS_RECORD,
  fleetKeysetSchema,
  planKeys,
  publishedKeys,
  signingKey,
  type FleetKey,
  type FleetKeyset,
  type RotationSettings,
} from './keyset.js';
import { FLEET_SEGMENT } from './paths.js';
import type { FleetSigner, MintedToken } from './signer.js';

const ALG = 'ES256';
/** Compare-and-swap attempts before a refresh gives up (another instance keeps winning). */
const MAX_WRITE_ATTEMPTS = 10;

export interface LocalKeysOptions {
  store: ClusterStore;
  /** The fleet issuer URL (`{IDBRIDGE_PUBLIC_URL}/_fleet`). */
  issuer: string;
  rotation: RotationSettings;
  /** How long this instance uses the keyset it read before reading (and maybe rotating) it again, ms. */
  refreshMs?: number;
  now?: () => number;
  logger: Logger;
}

interface Loaded {
  keys: FleetKey[];
  loadedAt: number;
  docs: ClusterDocuments;
  signers: Map<string, KeyObject>;
}

/**
 * The fleet signing keys held as one private record of the store (never published, never
 * logged): made on first use, rotated by `planKeys` with compare-and-swap, so instances sharing
 * a store agree on one keyset and on which key signs when.
 */
export class LocalFleetKeys implements FleetSigner {
  readonly #options: LocalKeysOptions;
  readonly #now: () => number;
  readonly #refreshMs: number;
  #loaded: Loaded | undefined;
  #refreshing: Promise<Loaded> | undefined;

  constructor(options: LocalKeysOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    // Well inside the lead time, so every instance has read a new key before it signs.
    this.#refreshMs =
      options.refreshMs ?? Math.min(60_000, (options.rotation.leadSeconds * 1000) / 4);
  }

  async sign(claims: FleetClaims): Promise<MintedToken> {
    const loaded = await this.#current();
    const key = signingKey(loaded.keys, Math.floor(this.#now() / 1000));
    const signer = key && loaded.signers.get(key.kid);
    if (!key || !signer)
      throw new IdbridgeError('internal', 'the fleet keyset has no key that can sign now');
    const input = signingInput(key.kid, claims);
    const signature = signBytes('sha256', Buffer.from(input), {
      key: signer,
      dsaEncoding: 'ieee-p1363',
    });
    return { token: compactJws(input, signature), kid: key.kid };
  }

  async documents(): Promise<ClusterDocuments> {
    return (await this.#current()).docs;
  }

  peekDocuments(): ClusterDocuments | undefined {
    const loaded = this.#loaded;
    if (!loaded) return undefined;
    if (this.#now() - loaded.loadedAt >= this.#refreshMs) void this.#current().catch(() => {});
    return loaded.docs;
  }

  /** The keyset read within refreshMs, or a fresh read (one at a time); the last good one if the store fails. */
  async #current(): Promise<Loaded> {
    const loaded = this.#loaded;
    if (loaded && this.#now() - loaded.loadedAt < this.#refreshMs) return loaded;
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    if (!loaded) return this.#refreshing;
    return this.#refreshing.catch((err: unknown) => {
      this.#options.logger.warn(
        'fleet: reading the signing keys failed; using the keys read before',
        {
          error: err instanceof Error ? err.message.slice(0, 300) : 'unknown error',
        },
      );
      return loaded;
    });
  }

  async #refresh(): Promise<Loaded> {
    const { store, rotation } = this.#options;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const stored = await store.getPrivate(FLEET_KEYS_RECORD);
      const keyset = stored ? parseKeyset(stored.value) : { version: 1 as const, keys: [] };
      const now = Math.floor(this.#now() / 1000);
      const plan = planKeys(keyset.keys, now, rotation);
      const keys =
        plan.newKeySignsFrom === null
          ? plan.keep
          : [...plan.keep, await newKey(now, plan.newKeySignsFrom)];
      const changed = plan.newKeySignsFrom !== null || keys.length !== keyset.keys.length;
      if (changed) {
        const next: FleetKeyset = { version: 1, keys };
        try {
          await store.putPrivate(FLEET_KEYS_RECORD, JSON.stringify(next), stored?.revision ?? null);
        } catch (err) {
          if (err instanceof StoreConflictError) continue; // another instance rotated: read its keys
          throw err;
        }
        this.#options.logger.info('fleet: signing keys rotated', {
          kids: keys.map((key) => key.kid),
          signsFrom: keys.map((key) => new Date(key.signsFrom * 1000).toISOString()),
        });
      }
      // Read back as stored, so every instance serializes the same documents.
      this.#loaded = await this.#load(
        changed ? parseKeyset(JSON.stringify({ version: 1, keys })).keys : keyset.keys,
      );
      return this.#loaded;
    }
    throw new IdbridgeError(
      'conflict',
      'the fleet signing keys are being changed by other instances right now; retry',
    );
  }

  async #load(keys: FleetKey[]): Promise<Loaded> {
    const signers = new Map<string, KeyObject>();
    for (const key of keys) {
      // Keys already imported are reused: the keyset changes once per rotation.
      const known = this.#loaded?.signers.get(key.kid);
      if (known) signers.set(key.kid, known);
      else if (key.privateJwk)
        signers.set(
          key.kid,
          createPrivateKey({ key: key.privateJwk as JsonWebKey, format: 'jwk' }),
        );
    }
    const same =
      this.#loaded &&
      this.#loaded.keys.length === keys.length &&
      this.#loaded.keys.every((key, i) => key.kid === keys[i]!.kid);
    const docs =
      same && this.#loaded
        ? this.#loaded.docs
        : await publishCluster(FLEET_SEGMENT, this.#options.issuer, publishedKeys(keys));
    return { keys, loadedAt: this.#now(), docs, signers };
  }
}

/** A new ES256 key: its private JWK goes to the store's private record only. */
async function newKey(createdAt: number, signsFrom: number): Promise<FleetKey> {
  const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  const publicJwk = {
    kty: 'EC',
    crv: 'P-256',
    x: pub.x!,
    y: pub.y!,
    kid,
    alg: ALG,
    use: 'sig',
  } as PublicJwk;
  return { kid, privateJwk: { ...(await exportJWK(privateKey)) }, publicJwk, createdAt, signsFrom };
}

/** The stored keyset; a damaged record is reported without its contents (it holds private keys). */
function parseKeyset(value: string): FleetKeyset {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const result = fleetKeysetSchema.safeParse(parsed);
  if (!result.success)
    throw new IdbridgeError(
      'internal',
      `the store's private record ${FLEET_KEYS_RECORD} is not a fleet keyset; restore it from a backup, or delete it to make new keys (every fleet token in flight then fails once)`,
    );
  return result.data;
}
