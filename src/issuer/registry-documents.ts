import { isClusterId } from '../registry/cluster-id.js';
import type { ClusterStore } from '../registry/store.js';
import type { DocumentSource } from './document-source.js';
import { publishCluster, type ClusterDocuments } from './published.js';

export interface RegistryDocumentsOptions {
  /**
   * Age after which a cached entry is re-read from the store in the background. Default: 60 s
   * when the store reports changes (watch), else 5 s.
   */
  revalidateAfterMs?: number;
  /** Age after which a request waits for the store rather than get the cached copy. */
  maxStaleMs?: number;
  /** Bound on cached clusters (known and unknown ids); the oldest loaded are dropped first. */
  maxEntries?: number;
  now?: () => number;
  /** Called when a background refresh fails; the cached copy keeps being served. */
  onRefreshError?: (cluster: string, err: unknown) => void;
}

interface Entry {
  docs: ClusterDocuments | null;
  revision: string | null;
  loadedAt: number;
}

/**
 * The issuer's view of the registry: documents serialized once per record revision and kept in
 * memory, so serving a cluster costs a map lookup whatever the number of clusters. This
 * process's own writes invalidate entries at once; so do other processes' writes when the store
 * can watch (file store), and otherwise they are picked up within `revalidateAfterMs`.
 */
export class RegistryDocuments implements DocumentSource {
  readonly #store: ClusterStore;
  readonly #entries = new Map<string, Entry>();
  /** One store read per cluster at a time, however many requests wait for it. */
  readonly #inflight = new Map<string, Promise<ClusterDocuments | null>>();
  /** Bumped by invalidate() so a read that started before a write cannot cache the old record. */
  readonly #epochs = new Map<string, number>();
  readonly #revalidateAfterMs: number;
  readonly #maxStaleMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #onRefreshError: (cluster: string, err: unknown) => void;
  readonly #unwatch: (() => void) | undefined;

  constructor(store: ClusterStore, options: RegistryDocumentsOptions = {}) {
    this.#store = store;
    this.#revalidateAfterMs = options.revalidateAfterMs ?? (store.watch ? 60_000 : 5_000);
    this.#maxStaleMs = Math.max(options.maxStaleMs ?? 5 * 60_000, this.#revalidateAfterMs);
    this.#maxEntries = options.maxEntries ?? 50_000;
    this.#now = options.now ?? Date.now;
    this.#onRefreshError = options.onRefreshError ?? (() => {});
    // Writes by other processes sharing the store drop the entry at once.
    this.#unwatch = store.watch?.((cluster) => this.invalidate(cluster));
  }

  /** Stops watching the store. */
  close(): void {
    this.#unwatch?.();
  }

  /**
   * The cached documents if they may be served now without waiting (refreshing them in the
   * background when due); undefined when the caller must go through `documents()`.
   */
  peek(cluster: string): ClusterDocuments | undefined {
    const entry = this.#entries.get(cluster);
    if (!entry?.docs) return undefined;
    const age = this.#now() - entry.loadedAt;
    if (age > this.#maxStaleMs) return undefined;
    if (age > this.#revalidateAfterMs) this.#refreshInBackground(cluster, entry);
    return entry.docs;
  }

  async documents(cluster: string): Promise<ClusterDocuments | null> {
    if (!isClusterId(cluster)) return null;
    const entry = this.#entries.get(cluster);
    if (entry) {
      const age = this.#now() - entry.loadedAt;
      if (age <= this.#revalidateAfterMs) return entry.docs;
      if (entry.docs && age <= this.#maxStaleMs) {
        this.#refreshInBackground(cluster, entry);
        return entry.docs;
      }
    }
    return this.#load(cluster);
  }

  /** Drops a cluster's cached documents; called after this process writes its record. */
  invalidate(cluster: string): void {
    this.#entries.delete(cluster);
    this.#inflight.delete(cluster);
    this.#epochs.set(cluster, (this.#epochs.get(cluster) ?? 0) + 1);
  }

  get size(): number {
    return this.#entries.size;
  }

  #refreshInBackground(cluster: string, entry: Entry): void {
    if (this.#inflight.has(cluster)) return;
    this.#load(cluster).catch((err) => {
      // Keep serving the cached copy; try again after another revalidation interval.
      entry.loadedAt = this.#now();
      this.#onRefreshError(cluster, err);
    });
  }

  #load(cluster: string): Promise<ClusterDocuments | null> {
    const pending = this.#inflight.get(cluster);
    if (pending) return pending;
    const epoch = this.#epochs.get(cluster) ?? 0;
    const previous = this.#entries.get(cluster);
    const loading: Promise<ClusterDocuments | null> = (async () => {
      const stored = await this.#store.get(cluster);
      const revision = stored?.revision ?? null;
      let docs: ClusterDocuments | null;
      if (previous && previous.revision === revision) docs = previous.docs;
      else if (!stored || stored.record.keys.length === 0) docs = null;
      else docs = await publishCluster(stored.record.id, stored.record.issuer, stored.record.keys.map((key) => key.jwk));
      if ((this.#epochs.get(cluster) ?? 0) === epoch) this.#remember(cluster, { docs, revision, loadedAt: this.#now() });
      return docs;
    })().finally(() => {
      if (this.#inflight.get(cluster) === loading) this.#inflight.delete(cluster);
    });
    this.#inflight.set(cluster, loading);
    return loading;
  }

  #remember(cluster: string, entry: Entry): void {
    this.#entries.delete(cluster);
    this.#entries.set(cluster, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.#epochs.delete(oldest);
    }
  }
}
