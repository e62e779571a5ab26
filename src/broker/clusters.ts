import { isClusterId } from '../registry/cluster-id.js';
import { RecordCache } from '../registry/record-cache.js';
import type { ClusterRecord } from '../registry/record.js';
import type { ClusterRegistry } from '../registry/registry.js';

/**
 * The broker's view of the registry: which registered cluster a token's issuer names. Records
 * are kept in memory (the store is not read per exchange) and dropped at once when this process
 * writes one, or another process does on a watched (file) store; other stores are re-read
 * within RecordCache's revalidation interval.
 */
export class BrokerClusters {
  readonly #records: RecordCache<ClusterRecord | null>;

  constructor(registry: ClusterRegistry, options: { now?: () => number; onRefreshError?: (cluster: string, err: unknown) => void } = {}) {
    this.#records = new RecordCache(registry.store, (stored) => stored?.record ?? null, {
      // Only a known record is served while it is re-read: a cluster registered a moment ago is found at once.
      serveStale: (record) => record !== null,
      ...options,
    });
    registry.onChange((id) => this.#records.invalidate(id));
  }

  close(): void {
    this.#records.close();
  }

  /**
   * The cluster whose issuer is exactly `issuer`. Issuers are `{IDBRIDGE_PUBLIC_URL}/{id}`, so the
   * last path segment names the only candidate, and its record must carry the very same issuer.
   */
  async forIssuer(issuer: string): Promise<ClusterRecord | null> {
    const id = issuer.slice(issuer.lastIndexOf('/') + 1);
    if (!isClusterId(id)) return null;
    const record = await this.#records.get(id);
    return record !== null && record.issuer === issuer ? record : null;
  }
}
