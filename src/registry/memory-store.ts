import { StoreConflictError } from '../errors.js';
import type { ClusterRecord } from './record.js';
import { checkPrivateName } from './private-name.js';
import type { ClusterStore, ListPage, PrivateRecord, StoredRecord } from './store.js';

/** `memory:` — for tests and throwaway runs; records live as long as the process. */
export class MemoryStore implements ClusterStore {
  readonly description = 'memory:';
  readonly #records = new Map<string, ClusterRecord>();
  readonly #private = new Map<string, PrivateRecord>();
  #privateWrites = 0;

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

  async getPrivate(name: string): Promise<PrivateRecord | null> {
    checkPrivateName(name);
    return this.#private.get(name) ?? null;
  }

  async putPrivate(name: string, value: string, ifRevision: string | null): Promise<PrivateRecord> {
    checkPrivateName(name);
    if ((this.#private.get(name)?.revision ?? null) !== ifRevision)
      throw new StoreConflictError(`private record ${name}`);
    const stored = { value, revision: String(++this.#privateWrites) };
    this.#private.set(name, stored);
    return stored;
  }
}
