import { IdbridgeError, StoreConflictError } from '../errors.js';
import { jwksUriFor } from '../oidc/discovery.js';
import { keyWarnings, type ValidatedJwks } from '../oidc/jwks.js';
import { mergeKeys } from './keys.js';
import {
  MAX_KEY_EVENTS,
  type BrokerPolicy,
  type ClusterMode,
  type ClusterRecord,
  type FleetRevocation,
  type KeySource,
} from './record.js';
import type { ClusterStore, ListPage } from './store.js';

/** How often a write retries after losing a compare-and-swap before answering 409. */
const MAX_WRITE_ATTEMPTS = 10;
/** Backoff before each retry: full jitter up to 5 ms, doubling, capped at 250 ms (~1.1 s worst case in all). */
const RETRY_BASE_MS = 5;
const RETRY_CAP_MS = 250;

export interface RegistryOptions {
  /** External base URL of the issuer; cluster `c` gets the issuer `{publicUrl}/c`. */
  publicUrl: string;
  now?: () => Date;
}

export interface NewCluster {
  id: string;
  syncSubject: string;
  /** Already validated with validateJwks; absent until the first sync or admin key update. */
  jwks?: ValidatedJwks;
  broker?: BrokerPolicy;
  mode?: ClusterMode;
}

export interface ClusterUpdate {
  syncSubject?: string;
  /** null removes the cluster's broker policy (back to defaults). */
  broker?: BrokerPolicy | null;
  mode?: ClusterMode;
  /** The fleet kill switch; null lifts every revocation. */
  fleet?: FleetRevocation | null;
}

export interface WriteOptions {
  /** Refuse with 412 unless the record is still at this version. */
  ifVersion?: number;
}

export interface KeysResult {
  record: ClusterRecord;
  added: string[];
  removed: string[];
  changed: boolean;
  warnings: string[];
}

type ChangeListener = (clusterId: string) => void;

/**
 * The cluster registry: every read-modify-write of a record goes through `mutate`, a
 * compare-and-swap loop over the store, so concurrent writers never lose an update.
 */
export class ClusterRegistry {
  readonly store: ClusterStore;
  readonly publicUrl: string;
  readonly #now: () => Date;
  readonly #listeners: ChangeListener[] = [];

  constructor(store: ClusterStore, options: RegistryOptions) {
    this.store = store;
    this.publicUrl = options.publicUrl;
    this.#now = options.now ?? (() => new Date());
  }

  issuerFor(id: string): string {
    return `${this.publicUrl}/${id}`;
  }

  /** Registers a listener called after each successful write (cache invalidation). */
  onChange(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  async create(input: NewCluster): Promise<ClusterRecord> {
    const now = this.#now().toISOString();
    const jwks = input.jwks?.keys ?? [];
    const record: ClusterRecord = {
      id: input.id,
      issuer: this.issuerFor(input.id),
      syncSubject: input.syncSubject,
      keys: jwks.map((jwk) => ({ jwk, firstSeen: now, lastSeen: now })),
      keyEvents:
        jwks.length > 0
          ? [{ at: now, source: 'registration', added: jwks.map((k) => k.kid), removed: [] }]
          : [],
      ...(input.broker ? { broker: input.broker } : {}),
      ...(input.mode && input.mode !== 'provider' ? { mode: input.mode } : {}),
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    try {
      await this.store.put(record, null);
    } catch (err) {
      if (err instanceof StoreConflictError) {
        throw new IdbridgeError(
          'cluster_exists',
          `cluster ${JSON.stringify(input.id)} is already registered; update it (PATCH) or delete it first`,
        );
      }
      throw err;
    }
    this.#changed(record.id);
    return record;
  }

  async get(id: string): Promise<ClusterRecord> {
    const stored = await this.store.get(id);
    if (!stored) throw notFound(id);
    return stored.record;
  }

  list(options: { after?: string; limit: number }): Promise<ListPage> {
    return this.store.list(options);
  }

  async update(
    id: string,
    update: ClusterUpdate,
    options: WriteOptions = {},
  ): Promise<ClusterRecord> {
    const { record } = await this.mutate(
      id,
      (current) => {
        const next: ClusterRecord = { ...current };
        if (update.syncSubject !== undefined) next.syncSubject = update.syncSubject;
        if (update.broker === null) delete next.broker;
        else if (update.broker !== undefined) next.broker = update.broker;
        if (update.mode === 'provider') delete next.mode;
        else if (update.mode !== undefined) next.mode = update.mode;
        if (update.fleet === null) delete next.fleet;
        else if (update.fleet !== undefined) next.fleet = update.fleet;
        return JSON.stringify(next) === JSON.stringify(current) ? null : next;
      },
      options,
    );
    return record;
  }

  async delete(id: string, options: WriteOptions = {}): Promise<void> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      await backoff(attempt);
      const stored = await this.store.get(id);
      if (!stored) throw notFound(id);
      checkVersion(stored.record, options);
      try {
        await this.store.delete(id, stored.revision);
        this.#changed(id);
        return;
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
      }
    }
    throw busy(id);
  }

  /**
   * Replaces a cluster's published keys with `jwks`, keeping first-seen times and recording what
   * was added and removed. `check` runs against the current record inside the compare-and-swap
   * loop (e.g. "the signing key of this request is still on record"). No change, no write.
   */
  async replaceKeys(
    id: string,
    jwks: ValidatedJwks,
    source: KeySource,
    options: WriteOptions & {
      check?: (current: ClusterRecord) => void;
      /** Where the pusher wrote these keys first (a provider's uploaded JWKS), kept on the event. */
      provider?: string;
    } = {},
  ): Promise<KeysResult> {
    let outcome = { added: [] as string[], removed: [] as string[] };
    const { record, changed } = await this.mutate(
      id,
      (current) => {
        options.check?.(current);
        const now = this.#now().toISOString();
        const change = mergeKeys(current.keys, jwks.keys, now);
        outcome = change;
        if (!change.changed) return null;
        const event = {
          at: now,
          source,
          added: change.added,
          removed: change.removed,
          ...(options.provider !== undefined ? { provider: options.provider } : {}),
        };
        return {
          ...current,
          keys: change.keys,
          keyEvents: [...current.keyEvents, event].slice(-MAX_KEY_EVENTS),
        };
      },
      options,
    );
    return { record, ...outcome, changed, warnings: jwks.keys.flatMap(keyWarnings) };
  }

  /**
   * Read-modify-write with compare-and-swap: `change` gets the current record and returns the
   * next one (null: nothing to write). It may run more than once, so it must be pure.
   */
  async mutate(
    id: string,
    change: (current: ClusterRecord) => ClusterRecord | null,
    options: WriteOptions = {},
  ): Promise<{ record: ClusterRecord; changed: boolean }> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      await backoff(attempt);
      const stored = await this.store.get(id);
      if (!stored) throw notFound(id);
      checkVersion(stored.record, options);
      const next = change(stored.record);
      if (next === null) return { record: stored.record, changed: false };
      const record: ClusterRecord = {
        ...next,
        id,
        version: stored.record.version + 1,
        updatedAt: this.#now().toISOString(),
      };
      try {
        await this.store.put(record, stored.revision);
      } catch (err) {
        if (err instanceof StoreConflictError) continue;
        throw err;
      }
      this.#changed(id);
      return { record, changed: true };
    }
    throw busy(id);
  }

  #changed(id: string): void {
    for (const listener of this.#listeners) listener(id);
  }
}

/** The kube-apiserver flags that make a cluster's tokens carry its idbridge issuer. */
export function kubeApiserverFlags(issuer: string): { flags: string[]; notes: string[] } {
  return {
    flags: [
      `--service-account-issuer=${issuer}`,
      `--service-account-jwks-uri=${jwksUriFor(issuer)}`,
      '--api-audiences=<every audience your cluster accepts today, e.g. https://kubernetes.default.svc.cluster.local>',
    ],
    notes: [
      'Put the new --service-account-issuer first: the first issuer signs new tokens. Keep the current issuer as a second --service-account-issuer flag until every old token has expired, so running workloads keep working.',
      'Without --api-audiences the apiserver accepts only the first issuer as the audience of its own API tokens; list the audiences in use today so in-cluster clients keep authenticating.',
      "The issuer must match byte for byte (no trailing slash): Google STS compares it with the token's iss exactly.",
    ],
  };
}

function checkVersion(record: ClusterRecord, options: WriteOptions): void {
  if (options.ifVersion !== undefined && record.version !== options.ifVersion) {
    throw new IdbridgeError(
      'precondition_failed',
      `cluster ${JSON.stringify(record.id)} is at version ${record.version}, not ${options.ifVersion}; fetch it again and re-apply your change`,
    );
  }
}

function notFound(id: string): IdbridgeError {
  return new IdbridgeError(
    'cluster_not_found',
    `no cluster ${JSON.stringify(id)} is registered; list clusters with GET /api/v1/clusters or register it with POST /api/v1/clusters`,
  );
}

/**
 * Waits before a compare-and-swap retry (not before the first try, nor after the last, which
 * answers 409 at once). Full jitter spreads writers that lost together, and the doubling lets many
 * writers on one record (a busy file store under load) all get through.
 */
async function backoff(attempt: number): Promise<void> {
  if (attempt === 0) return;
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

function busy(id: string): IdbridgeError {
  return new IdbridgeError(
    'conflict',
    `cluster ${JSON.stringify(id)} is being changed by other writers right now; retry the request`,
  );
}
