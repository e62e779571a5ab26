import { StoreConflictError } from '../errors.js';
import type { ClusterRecord } from './record.js';
import type { ClusterStore, ListPage, StoredRecord } from './store.js';

/** `memory:` — for tests and throwaway runs; records live as long as the process. */
export class MemoryStore implements ClusterStore {
  readonly description = 'memory:';
  readonly #records = new Map<string, ClusterRecord>();

  async get(id: string): Promise<StoredRecord | null> {
    const record = this.#records.get(id);
    return record ? { record: structuredClone(record), revision: String(record.version) } : null;
  }

  async put(record: ClusterRecord, ifRevision: string | null): Promise<StoredRecord> {
    const current = this.#records.get(record.id);
    const currentRevision = current ? String(current.version) : null;
    if (currentRevision !== ifRevision) throw new StoreConflictError(`cluster ${record.id}`);
    this.#records.set(record.id, structuredClone(record));
    return { record: structuredClone(record), revision: String(record.version) };
  }

  async delete(id: string, ifRevision?: string): Promise<boolean> {
    const current = this.#records.get(id);
    if (!current) return false;
    if (ifRevision !== undefined && String(current.version) !== ifRevision)
      throw new StoreConflictError(`cluster ${id}`);
    return this.#records.delete(id);
  }

  async list({ after, limit }: { after?: string; limit: number }): Promise<ListPage> {
    const ids = [...this.#records.keys()].filter((id) => after === undefined || id > after).sort();
    const page = ids.slice(0, limit);
    const records = page.map((id) => {
      const record = this.#records.get(id)!;
      return { record: structuredClone(record), revision: String(record.version) };
    });
    return ids.length > limit ? { records, next: page.at(-1)! } : { records };
  }

  async ping(): Promise<void> {}
}
