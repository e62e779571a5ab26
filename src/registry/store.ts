import type { ClusterRecord } from './record.js';

/** A record together with the store's opaque revision of it, used for compare-and-swap. */
export interface StoredRecord {
  record: ClusterRecord;
  revision: string;
}

/** A private record of the store (never published): its value and the store's revision of it. */
export interface PrivateRecord {
  value: string;
  revision: string;
}

/** Names of private records: a lowercase word, never a cluster id's path nor a published path. */
export const PRIVATE_RECORD_NAME = /^[a-z][a-z0-9-]{0,62}$/;

export interface ListPage {
  records: StoredRecord[];
  /** Pass as `after` to get the next page; absent on the last page. */
  next?: string;
}

/**
 * The one storage interface every host uses. Implementations make `put` and `delete` atomic
 * compare-and-swaps on a single record and throw StoreConflictError when the revision moved.
 */
export interface ClusterStore {
  /** Human-readable description for logs, e.g. `file:/var/lib/idbridge`. Never holds secrets. */
  readonly description: string;
  get(id: string): Promise<StoredRecord | null>;
  /** Writes `record` if the stored revision is `ifRevision` (`null`: only if absent). */
  put(record: ClusterRecord, ifRevision: string | null): Promise<StoredRecord>;
  /** Deletes the record if its stored revision is `ifRevision`; false if it did not exist. */
  delete(id: string, ifRevision?: string): Promise<boolean>;
  /** Records in id order, starting after the id `after`. */
  list(options: { after?: string; limit: number }): Promise<ListPage>;
  /** Throws if the store cannot serve requests (used by /readyz). */
  ping(): Promise<void>;
  /**
   * Optional: calls `listener` with a cluster id when any process changes its record, so caches
   * can drop it at once instead of polling. Returns a function that stops watching. Best effort:
   * callers still revalidate now and then.
   */
  watch?(listener: (id: string) => void): () => void;
  /**
   * A private record by name (the fleet signing keys), or null. Private records are never
   * published: not in a document path, not public on GCS, file mode 0600.
   */
  getPrivate(name: string): Promise<PrivateRecord | null>;
  /** Writes a private record if its stored revision is `ifRevision` (`null`: only if absent). */
  putPrivate(name: string, value: string, ifRevision: string | null): Promise<PrivateRecord>;
}
