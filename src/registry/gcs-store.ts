import type { Bucket, File, FileMetadata, Storage } from '@google-cloud/storage';
import type { GcsOptions } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import { StoreBreaker } from '../gcs/breaker.js';
import { fromGcsError, isNotFound } from '../gcs/errors.js';
import { gcsLayout, type GcsLayout } from '../gcs/layout.js';
import { deleteClusterDocuments, documentObjects, OWNER_KEY, writeClusterDocuments } from '../gcs/public-documents.js';
import { recordDocuments, type ClusterDocuments } from '../oidc/published.js';
import { isClusterId } from './cluster-id.js';
import { clusterRecordSchema, type ClusterRecord } from './record.js';
import type { ClusterStore, ListPage, StoredRecord } from './store.js';

/** On a record object: the MD5 of each public document it implies, so a listing shows drift. */
const JWKS_MD5_KEY = 'idbridge-jwks-md5';
const DISCOVERY_MD5_KEY = 'idbridge-discovery-md5';

/** Records downloaded at once when a page is listed. */
const LIST_CONCURRENCY = 16;
/** Documents without a record are deleted only once they are this old (a create may be under way). */
const ORPHAN_GRACE_MS = 60_000;

export interface GcsStoreOptions {
  storage: Storage;
  bucket: string;
  prefix: string;
  acl: GcsOptions['objectAcl'];
  /** How often the whole prefix is reconciled (0: only at open and after a failed publish). */
  reconcileEveryMs?: number;
  /** Told about failures of background work (document publishing, reconciliation). */
  onBackgroundError?: (what: string, err: unknown) => void;
  now?: () => number;
  /** Each request's store call is abandoned after this long (default 3 s). */
  timeoutMs?: number;
  /** After an outage, requests get a 503 at once for this long before GCS is probed again (default 5 s). */
  failFastMs?: number;
}

export const DEFAULT_GCS_TIMEOUT_MS = 3_000;
export const DEFAULT_GCS_FAIL_FAST_MS = 5_000;

export interface ReconcileReport {
  records: number;
  republished: string[];
  orphansDeleted: string[];
}

/**
 * `gcs://BUCKET/PREFIX` — one private object per cluster record, plus the cluster's two public
 * documents in the bucket layout of DESIGN.md, written with the exact bytes and headers the issuer
 * routes serve. The record is the truth and its write is the compare-and-swap (generation
 * preconditions; the revision is the object generation). The documents follow it:
 *
 * - in the same call, right after the record (a writer that loses a race to a newer record never
 *   overwrites that record's documents: each document is labelled with its record's generation);
 * - after a failure between the two writes, by a repair of that cluster a few seconds later;
 * - and by a reconciliation of the whole prefix at open and every `reconcileEveryMs`, which compares
 *   the documents' MD5s with those the record object carries in its metadata, from listings alone.
 */
export class GcsStore implements ClusterStore {
  readonly description: string;
  readonly layout: GcsLayout;
  readonly #bucket: Bucket;
  readonly #acl: GcsOptions['objectAcl'];
  readonly #onBackgroundError: (what: string, err: unknown) => void;
  readonly #now: () => number;
  readonly #breaker: StoreBreaker;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: GcsStoreOptions) {
    this.layout = gcsLayout(options.bucket, options.prefix);
    this.description = `gcs://${options.bucket}/${options.prefix}`;
    this.#bucket = options.storage.bucket(options.bucket);
    this.#acl = options.acl;
    this.#onBackgroundError = options.onBackgroundError ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#breaker = new StoreBreaker({ timeoutMs: options.timeoutMs ?? DEFAULT_GCS_TIMEOUT_MS, failFastMs: options.failFastMs ?? DEFAULT_GCS_FAIL_FAST_MS, now: this.#now });
    const every = options.reconcileEveryMs ?? 0;
    if (every > 0) {
      this.#timer = setInterval(() => void this.#reconcileInBackground(), every);
      this.#timer.unref();
    }
  }

  /** Opens the store and reconciles the prefix in the background. */
  static open(options: GcsStoreOptions): GcsStore {
    const store = new GcsStore(options);
    void store.#reconcileInBackground();
    return store;
  }

  /** Stops periodic reconciliation. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #recordFile(id: string): File {
    if (!isClusterId(id)) throw new IdbridgeError('invalid_cluster_id', `cluster id ${JSON.stringify(id.slice(0, 80))} is not a valid DNS label`);
    return this.#bucket.file(this.layout.record(id));
  }

  async get(id: string): Promise<StoredRecord | null> {
    const file = this.#recordFile(id);
    const where = this.layout.url(file.name);
    const downloaded = await this.#breaker.run(where, () => downloadWithGeneration(file).catch((err: unknown) => {
      if (isNotFound(err)) return null;
      throw err;
    }), (err) => fromGcsError(err, where));
    if (!downloaded) return null;
    const { body, generation } = downloaded;
    let record: ClusterRecord;
    try {
      record = clusterRecordSchema.parse(JSON.parse(body.toString('utf8')));
    } catch (err) {
      throw new IdbridgeError('internal', `${this.layout.url(file.name)} is not a valid cluster record; restore an earlier generation of it or delete it`, [], { cause: err });
    }
    if (record.id !== id) throw new IdbridgeError('internal', `${this.layout.url(file.name)} holds the record of ${JSON.stringify(record.id)}; restore the right record or delete it`);
    return { record, revision: generation };
  }

  async put(record: ClusterRecord, ifRevision: string | null): Promise<StoredRecord> {
    const file = this.#recordFile(record.id);
    const docs = await recordDocuments(record);
    const objects = docs ? documentObjects(this.layout, docs) : [];
    await this.#breaker.run(`cluster ${record.id}`, () => file.save(`${JSON.stringify(record)}\n`, {
        resumable: false,
        contentType: 'application/json',
        metadata: {
          cacheControl: 'no-store',
          metadata: objects.length === 2 ? { [JWKS_MD5_KEY]: objects[0]!.md5, [DISCOVERY_MD5_KEY]: objects[1]!.md5 } : {},
        },
        ...(this.#acl === 'fine-grained' ? { predefinedAcl: 'private' as const } : {}),
        // 0: create only if absent.
        preconditionOpts: { ifGenerationMatch: ifRevision ?? 0 },
      }), (err) => fromGcsError(err, `cluster ${record.id}`));
    const generation = String((file.metadata as FileMetadata).generation);
    await this.#publish(record.id, docs, generation).catch((err) => {
      // The record is written and is the truth: answer success, repair the documents shortly.
      this.#onBackgroundError(`publishing the documents of cluster ${record.id}`, err);
      setTimeout(() => void this.repair(record.id).catch((again) => this.#onBackgroundError(`repairing the documents of cluster ${record.id}`, again)), 5_000).unref();
    });
    return { record, revision: generation };
  }

  async delete(id: string, ifRevision?: string): Promise<boolean> {
    const file = this.#recordFile(id);
    const deleted = await this.#breaker.run(`cluster ${id}`, () => file.delete(ifRevision !== undefined ? { ifGenerationMatch: ifRevision } : {}).then(() => true, (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    }), (err) => fromGcsError(err, `cluster ${id}`));
    if (!deleted) return false;
    await deleteClusterDocuments(this.#bucket, this.layout, id, 'registry').catch((err) => {
      this.#onBackgroundError(`deleting the documents of cluster ${id}`, err);
    });
    return true;
  }

  async list({ after, limit }: { after?: string; limit: number }): Promise<ListPage> {
    const ids = await this.#listIds(after, limit + 1);
    const page = ids.slice(0, limit);
    const records: StoredRecord[] = [];
    for (let i = 0; i < page.length; i += LIST_CONCURRENCY) {
      const batch = await Promise.all(page.slice(i, i + LIST_CONCURRENCY).map((id) => this.get(id)));
      for (const stored of batch) if (stored) records.push(stored); // deleted since the listing: skip
    }
    return ids.length > limit ? { records, next: page.at(-1)! } : { records };
  }

  async ping(): Promise<void> {
    const where = `gs://${this.layout.bucket}`;
    await this.#breaker.run(where, () => this.#bucket.getFiles({ prefix: this.layout.recordsPrefix, maxResults: 1, autoPaginate: false }), (err) => fromGcsError(err, where));
  }

  /** Rewrites one cluster's documents from its current record (or removes them if it is gone). */
  async repair(id: string): Promise<void> {
    const stored = await this.get(id);
    if (!stored) {
      await deleteClusterDocuments(this.#bucket, this.layout, id, 'registry');
      return;
    }
    await this.#publish(id, await recordDocuments(stored.record), stored.revision);
  }

  /**
   * Brings every cluster's documents in line with its record, from listings alone: only clusters
   * whose documents' MD5s differ from those their record implies are read and rewritten, and
   * documents the registry wrote for a cluster that no longer exists are deleted.
   */
  async reconcile(): Promise<ReconcileReport> {
    const records = new Map<string, FileMetadata>();
    const documents = new Map<string, { jwks?: FileMetadata; discovery?: FileMetadata }>();
    let pageToken: string | undefined;
    try {
      do {
        const [files, next] = await this.#bucket.getFiles({ prefix: this.layout.prefix === '' ? '' : `${this.layout.prefix}/`, autoPaginate: false, maxResults: 1000, ...(pageToken ? { pageToken } : {}) });
        for (const file of files) {
          const id = this.layout.recordId(file.name);
          if (id !== null) {
            records.set(id, file.metadata);
            continue;
          }
          const doc = this.layout.document(file.name);
          if (doc) documents.set(doc.cluster, { ...documents.get(doc.cluster), [doc.kind]: file.metadata });
        }
        pageToken = (next as { pageToken?: string } | null)?.pageToken;
      } while (pageToken);
    } catch (err) {
      throw fromGcsError(err, `gs://${this.layout.bucket}/${this.layout.prefix}`);
    }

    const republished: string[] = [];
    const orphansDeleted: string[] = [];
    for (const [id, meta] of records) {
      const docs = documents.get(id);
      const custom = meta.metadata ?? {};
      const expectJwks = custom[JWKS_MD5_KEY];
      const expectDiscovery = custom[DISCOVERY_MD5_KEY];
      const inLine = expectJwks === undefined
        ? !docs?.jwks && !docs?.discovery
        : docs?.jwks?.md5Hash === expectJwks && docs?.discovery?.md5Hash === expectDiscovery;
      if (!inLine) {
        await this.repair(id);
        republished.push(id);
      }
    }
    for (const [id, docs] of documents) {
      if (records.has(id)) continue;
      const mine = [docs.jwks, docs.discovery].filter((m) => m?.metadata?.[OWNER_KEY] === 'registry');
      if (mine.length === 0) continue;
      const oldest = Math.min(...mine.map((m) => Date.parse(String(m!.updated))));
      if (this.#now() - oldest < ORPHAN_GRACE_MS) continue;
      // Re-check: the cluster may have been created since the listing.
      if (await this.get(id)) continue;
      if ((await deleteClusterDocuments(this.#bucket, this.layout, id, 'registry')) > 0) orphansDeleted.push(id);
    }
    return { records: records.size, republished, orphansDeleted };
  }

  async #publish(id: string, docs: ClusterDocuments | null, generation: string): Promise<void> {
    if (docs) await writeClusterDocuments(this.#bucket, this.layout, docs, { owner: 'registry', acl: this.#acl, recordGeneration: generation });
    else await deleteClusterDocuments(this.#bucket, this.layout, id, 'registry');
  }

  async #reconcileInBackground(): Promise<void> {
    try {
      await this.reconcile();
    } catch (err) {
      this.#onBackgroundError('reconciling the public documents with the records', err);
    }
  }

  #listIds(after: string | undefined, want: number): Promise<string[]> {
    const where = `gs://${this.layout.bucket}/${this.layout.recordsPrefix}`;
    return this.#breaker.run(where, () => this.#listIdsOnce(after, want), (err) => fromGcsError(err, where));
  }

  async #listIdsOnce(after: string | undefined, want: number): Promise<string[]> {
    const ids: string[] = [];
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.#bucket.getFiles({
        prefix: this.layout.recordsPrefix,
        autoPaginate: false,
        maxResults: Math.min(1000, want - ids.length + 1),
        ...(after !== undefined ? { startOffset: this.layout.record(after) } : {}),
        ...(pageToken ? { pageToken } : {}),
      });
      for (const file of files) {
        const id = this.layout.recordId(file.name);
        if (id !== null && isClusterId(id) && (after === undefined || id > after)) ids.push(id);
      }
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken && ids.length < want);
    return ids.slice(0, want);
  }
}

/** One request: the object's bytes and the generation they belong to (from x-goog-generation). */
function downloadWithGeneration(file: File): Promise<{ body: Buffer; generation: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let generation: string | undefined;
    file
      .createReadStream()
      .on('response', (res: { headers?: Record<string, string | string[] | undefined> }) => {
        const header = res.headers?.['x-goog-generation'];
        generation = Array.isArray(header) ? header[0] : header;
      })
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('error', reject)
      .on('end', () => {
        if (!generation || !/^\d+$/.test(generation)) {
          reject(new IdbridgeError('store_unavailable', `Cloud Storage sent ${file.name} without its generation; the store cannot compare-and-swap without it`));
          return;
        }
        resolve({ body: Buffer.concat(chunks), generation });
      });
  });
}
