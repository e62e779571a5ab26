import { isClusterId } from '../registry/cluster-id.js';
import { RecordCache } from '../registry/record-cache.js';
import type { ClusterStore } from '../registry/store.js';
import type { DocumentSource } from './document-source.js';
import { publishCluster, type ClusterDocuments } from './published.js';

export interface RegistryDocumentsOptions {
  /** Age after which a cached entry is re-read from the store in the background (RecordCache's default). */
  revalidateAfterMs?: number;
  /** Age after which a request waits for the store rather than get the cached copy. */
  maxStaleMs?: number;
  /** Bound on cached clusters (known and unknown ids); the oldest loaded are dropped first. */
  maxEntries?: number;
  now?: () => number;
  /** Called when a background refresh fails; the cached copy keeps being served. */
  onRefreshError?: (cluster: string, err: unknown) => void;
}

/**
 * The issuer's view of the registry: documents serialized once per record revision and kept in
 * memory, so serving a cluster costs a map lookup whatever the number of clusters. This
 * process's own writes invalidate entries at once; so do other processes' writes when the store
 * can watch (file store); otherwise they are picked up within `revalidateAfterMs`.
 */
export class RegistryDocuments implements DocumentSource {
  readonly #cache: RecordCache<ClusterDocuments | null>;

  constructor(store: ClusterStore, options: RegistryDocumentsOptions = {}) {
    this.#cache = new RecordCache(
      store,
      (stored) => (!stored || stored.record.keys.length === 0 ? null : publishCluster(stored.record.id, stored.record.issuer, stored.record.keys.map((key) => key.jwk))),
      // A cluster not published a moment ago may be now: only documents are served stale.
      { ...options, serveStale: (docs) => docs !== null },
    );
  }

  /**
   * The cached documents if they may be served now without waiting (refreshing them in the
   * background when due); undefined when the caller must go through `documents()`.
   */
  peek(cluster: string): ClusterDocuments | undefined {
    return this.#cache.peek(cluster) ?? undefined;
  }

  async documents(cluster: string): Promise<ClusterDocuments | null> {
    if (!isClusterId(cluster)) return null;
    return this.#cache.get(cluster);
  }

  /** Drops a cluster's cached documents; called after this process writes its record. */
  invalidate(cluster: string): void {
    this.#cache.invalidate(cluster);
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Stops watching the store. */
  close(): void {
    this.#cache.close();
  }
}
