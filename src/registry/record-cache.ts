import type { ClusterRecord } from './record.js';
import type { ClusterStore, StoredRecord } from './store.js';

export interface RecordCacheOptions<T> {
  /**
   * Age after which a cached entry is re-read from the store in the background, stretched by up
   * to a quarter at random per entry so that entries loaded together are not re-read together.
   * Default: 5 min when the store reports other processes' changes (watch: the re-read is only a
   * safety net), else 5 s.
   */
  revalidateAfterMs?: number;
  /** Age after which a request waits for the store rather than get the cached copy (default 5 min, at least twice revalidateAfterMs). */
  maxStaleMs?: number;
  /** Bound on cached clusters (known and unknown ids); the oldest loaded are dropped first. */
  maxEntries?: number;
  /** Whether a value may be served while it is being revalidated (default: always). */
  serveStale?: (value: T) => boolean;
  now?: () => number;
  /** Called when a background refresh fails; the cached copy keeps being served. */
  onRefreshError?: (cluster: string, err: unknown) => void;
}

interface Entry<T> {
  value: T;
  revision: string | null;
  loadedAt: number;
  /** When a request should start a background re-read (loadedAt + jittered revalidation age). */
  refreshAt: number;
}

/**
 * Something derived from each cluster's record (published documents, a broker's view of the
 * record), kept in memory and derived again only when the record's revision changes. This
 * process's own writes invalidate entries at once (callers wire registry.onChange to
 * invalidate); other processes' writes too when the store can watch, and otherwise within
 * `revalidateAfterMs`, in the background while a recent copy is served.
 */
export class RecordCache<T> {
  readonly #store: ClusterStore;
  readonly #derive: (stored: StoredRecord | null) => T | Promise<T>;
  readonly #entries = new Map<string, Entry<T>>();
  /** One store read per cluster at a time, however many requests wait for it. */
  readonly #inflight = new Map<string, Promise<T>>();
  /** Bumped by invalidate() so a read that started before a write cannot cache the old record. */
  readonly #epochs = new Map<string, number>();
  readonly #revalidateAfterMs: number;
  readonly #maxStaleMs: number;
  readonly #maxEntries: number;
  readonly #serveStale: (value: T) => boolean;
  readonly #now: () => number;
  readonly #onRefreshError: (cluster: string, err: unknown) => void;
  readonly #unwatch: (() => void) | undefined;

  constructor(
    store: ClusterStore,
    derive: (stored: StoredRecord | null) => T | Promise<T>,
    options: RecordCacheOptions<T> = {},
  ) {
    this.#store = store;
    this.#derive = derive;
    this.#revalidateAfterMs = options.revalidateAfterMs ?? (store.watch ? 5 * 60_000 : 5_000);
    this.#maxStaleMs = Math.max(options.maxStaleMs ?? 5 * 60_000, 2 * this.#revalidateAfterMs);
    this.#maxEntries = options.maxEntries ?? 50_000;
    this.#serveStale = options.serveStale ?? (() => true);
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
   * The cached value if it may be served now without waiting (refreshing it in the background
   * when due); undefined when the caller must go through `get()`.
   */
  peek(cluster: string): T | undefined {
    const entry = this.#entries.get(cluster);
    if (!entry) return undefined;
    const now = this.#now();
    if (now <= entry.refreshAt) return entry.value;
    if (now - entry.loadedAt > this.#maxStaleMs || !this.#serveStale(entry.value)) return undefined;
    this.#refreshInBackground(cluster, entry);
    return entry.value;
  }

  get(cluster: string): Promise<T> {
    const cached = this.peek(cluster);
    return cached !== undefined ? Promise.resolve(cached) : this.#load(cluster);
  }

  /** Drops a cluster's cached value; called after this process writes its record. */
  invalidate(cluster: string): void {
    this.#entries.delete(cluster);
    this.#inflight.delete(cluster);
    this.#epochs.set(cluster, (this.#epochs.get(cluster) ?? 0) + 1);
  }

  get size(): number {
    return this.#entries.size;
  }

  #refreshInBackground(cluster: string, entry: Entry<T>): void {
    if (this.#inflight.has(cluster)) return;
    this.#load(cluster).catch((err) => {
      // Keep serving the cached copy; try again after another revalidation interval.
      entry.refreshAt = this.#now() + this.#revalidateAfterMs;
      this.#onRefreshError(cluster, err);
    });
  }

  #load(cluster: string): Promise<T> {
    const pending = this.#inflight.get(cluster);
    if (pending) return pending;
    const epoch = this.#epochs.get(cluster) ?? 0;
    const previous = this.#entries.get(cluster);
    const loading: Promise<T> = (async () => {
      const stored = await this.#store.get(cluster);
      const revision = stored?.revision ?? null;
      const value =
        previous && previous.revision === revision ? previous.value : await this.#derive(stored);
      if ((this.#epochs.get(cluster) ?? 0) === epoch)
        this.#remember(cluster, this.#entry(value, revision));
      return value;
    })().finally(() => {
      if (this.#inflight.get(cluster) === loading) this.#inflight.delete(cluster);
    });
    this.#inflight.set(cluster, loading);
    return loading;
  }

  #entry(value: T, revision: string | null): Entry<T> {
    const loadedAt = this.#now();
    return {
      value,
      revision,
      loadedAt,
      refreshAt: loadedAt + this.#revalidateAfterMs * (1 + Math.random() / 4),
    };
  }

  #remember(cluster: string, entry: Entry<T>): void {
    this.#entries.delete(cluster);
    this.#entries.set(cluster, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.#epochs.delete(oldest);
    }
  }
}

/**
 * The cluster records themselves, as the issuer and the broker both read them: one cache per
 * process, so each record is read (and the store watched) once. A record without keys is not
 * served stale: it cannot verify or publish anything, and its first keys should show at once.
 */
export function clusterRecords(
  store: ClusterStore,
  options: Omit<RecordCacheOptions<ClusterRecord | null>, 'serveStale'> = {},
): RecordCache<ClusterRecord | null> {
  return new RecordCache(store, (stored) => stored?.record ?? null, {
    ...options,
    serveStale: (record) => record !== null && record.keys.length > 0,
  });
}
