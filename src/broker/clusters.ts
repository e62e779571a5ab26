import { isClusterId } from '../registry/cluster-id.js';
import type { RecordCache } from '../registry/record-cache.js';
import type { ClusterRecord } from '../registry/record.js';

/**
 * The broker's view of the registry: which registered cluster a token's issuer names, read from
 * the process's cache of cluster records (clusterRecords), not from the store per exchange.
 */
export class BrokerClusters {
  readonly #records: RecordCache<ClusterRecord | null>;

  constructor(records: RecordCache<ClusterRecord | null>) {
    this.#records = records;
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

  /** The cluster registered as `id`, from the same cache. */
  byId(id: string): Promise<ClusterRecord | null> {
    return isClusterId(id) ? this.#records.get(id) : Promise.resolve(null);
  }
}
