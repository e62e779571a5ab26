import { isClusterId } from '../registry/cluster-id.js';
import type { RecordCache } from '../registry/record-cache.js';
import type { ClusterRecord } from '../registry/record.js';
import type { DocumentSource } from './document-source.js';
import { recordDocuments, type ClusterDocuments } from '../oidc/published.js';

/**
 * The issuer's view of the registry: documents serialized once per record revision and kept in
 * memory, so serving a cluster costs a map lookup whatever the number of clusters. Built on the
 * process's one cache of cluster records (clusterRecords), which the broker reads too: a record
 * object stands for one revision, so its documents are derived once and kept beside it.
 */
export class RegistryDocuments implements DocumentSource {
  readonly #records: RecordCache<ClusterRecord | null>;
  readonly #published = new WeakMap<ClusterRecord, Promise<ClusterDocuments | null>>();
  /** Documents already serialized, for the synchronous fast path. */
  readonly #ready = new WeakMap<ClusterRecord, ClusterDocuments>();

  constructor(records: RecordCache<ClusterRecord | null>) {
    this.#records = records;
  }

  /**
   * The cached documents if they may be served now without waiting (refreshing the record in the
   * background when due); undefined when the caller must go through `documents()`.
   */
  peek(cluster: string): ClusterDocuments | undefined {
    const record = this.#records.peek(cluster);
    return record ? this.#ready.get(record) : undefined;
  }

  async documents(cluster: string): Promise<ClusterDocuments | null> {
    if (!isClusterId(cluster)) return null;
    const record = await this.#records.get(cluster);
    if (!record) return null;
    let published = this.#published.get(record);
    if (!published) {
      published = recordDocuments(record).then((docs) => {
        if (docs) this.#ready.set(record, docs);
        return docs;
      });
      this.#published.set(record, published);
    }
    return published;
  }

  /** Drops a cluster's cached record; called after this process writes it. */
  invalidate(cluster: string): void {
    this.#records.invalidate(cluster);
  }
}
