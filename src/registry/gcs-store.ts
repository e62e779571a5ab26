import type { Bucket, File, FileMetadata, Storage } from '@google-cloud/storage';
import type { GcsOptions } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import { StoreBreaker } from '../gcs/breaker.js';
import { fromGcsError, isNotFound } from '../gcs/errors.js';
import { gcsLayout, type GcsLayout } from '../gcs/layout.js';
import { GcsMirror, type ReconcileReport } from '../gcs/mirror.js';
import { isClusterId } from './cluster-id.js';
import { clusterRecordSchema, type ClusterRecord } from './record.js';
import { checkPrivateName } from './private-name.js';
import type { ClusterStore, ListPage, PrivateRecord, StoredRecord } from './store.js';

/** Records downloaded at once when a page is listed. */
const LIST_CONCURRENCY = 16;

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

export type { ReconcileReport };

/**
 * `gcs://BUCKET/PREFIX` — one private object per cluster record. The record is the truth and its
 * write is the compare-and-swap (generation preconditions; the revision is the object generation).
 * The store itself only stores records; the cluster's two public documents are the mirror's
 * (src/gcs/mirror.ts), which this store drives from its writes:
 *
 * - in the same call, right after the record (a writer that loses a race to a newer record never
 *   overwrites that record's documents: each document is labelled with its record's generation);
 * - after a failure between the two writes, by a repair of that cluster a few seconds later;
 * - and by a reconciliation of the whole prefix at open and every `reconcileEveryMs`, which compares
 *   the documents' MD5s and publication-rule version with what the record implies, from listings alone.
 */
export class GcsStore implements ClusterStore {
  readonly description: string;
  readonly layout: GcsLayout;
  readonly #bucket: Bucket;
  readonly #acl: GcsOptions['objectAcl'];
  readonly #mirror: GcsMirror;
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
    this.#mirror = new GcsMirror({
      bucket: this.#bucket,
      layout: this.layout,
      acl: this.#acl,
      now: this.#now,
    });
    this.#breaker = new StoreBreaker({
      timeoutMs: options.timeoutMs ?? DEFAULT_GCS_TIMEOUT_MS,
      failFastMs: options.failFastMs ?? DEFAULT_GCS_FAIL_FAST_MS,
      now: this.#now,
    });
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
    if (!isClusterId(id))
      throw new IdbridgeError(
        'invalid_cluster_id',
        `cluster id ${JSON.stringify(id.slice(0, 80))} is not a valid DNS label`,
      );
    return this.#bucket.file(this.layout.record(id));
  }

  async get(id: string): Promise<StoredRecord | null> {
    const file = this.#recordFile(id);
    const where = this.layout.url(file.name);
    const downloaded = await this.#breaker.run(
      where,
      () =>
        downloadWithGeneration(file).catch((err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        }),
      (err) => fromGcsError(err, where),
    );
    if (!downloaded) return null;
    const { body, generation } = downloaded;
    let record: ClusterRecord;
    try {
      record = clusterRecordSchema.parse(JSON.parse(body.toString('utf8')));
    } catch (err) {
      throw new IdbridgeError(
        'internal',
        `${this.layout.url(file.name)} is not a valid cluster record; restore an earlier generation of it or delete it`,
        [],
        { cause: err },
      );
    }
    if (record.id !== id)
      throw new IdbridgeError(
        'internal',
        `${this.layout.url(file.name)} holds the record of ${JSON.stringify(record.id)}; restore the right record or delete it`,
      );
    return { record, revision: generation };
  }

  async put(record: ClusterRecord, ifRevision: string | null): Promise<StoredRecord> {
    const file = this.#recordFile(record.id);
    const docs = await this.#mirror.documentsOf(record);
    await this.#breaker.run(
      `cluster ${record.id}`,
      () =>
        file.save(`${JSON.stringify(record)}\n`, {
          resumable: false,
          contentType: 'application/json',
          metadata: {
            cacheControl: 'no-store',
            metadata: this.#mirror.recordLabels(docs),
          },
          ...(this.#acl === 'fine-grained' ? { predefinedAcl: 'private' as const } : {}),
          // 0: create only if absent.
          preconditionOpts: { ifGenerationMatch: ifRevision ?? 0 },
        }),
      (err) => fromGcsError(err, `cluster ${record.id}`),
    );
    const generation = String((file.metadata as FileMetadata).generation);
    await this.#mirror.publish(record.id, docs, generation).catch((err) => {
      // The record is written and is the truth: answer success, repair the documents shortly.
      this.#onBackgroundError(`publishing the documents of cluster ${record.id}`, err);
      setTimeout(
        () =>
          void this.repair(record.id).catch((again) =>
            this.#onBackgroundError(`repairing the documents of cluster ${record.id}`, again),
          ),
        5_000,
      ).unref();
    });
    return { record, revision: generation };
  }

  async getPrivate(name: string): Promise<PrivateRecord | null> {
    checkPrivateName(name);
    const file = this.#bucket.file(this.layout.privateRecord(name));
    const where = this.layout.url(file.name);
    const downloaded = await this.#breaker.run(
      where,
      () =>
        downloadWithGeneration(file).catch((err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        }),
      (err) => fromGcsError(err, where),
    );
    return downloaded
      ? { value: downloaded.body.toString('utf8'), revision: downloaded.generation }
      : null;
  }

  /** A private object (never public, never mirrored): `predefinedAcl: private` on fine-grained buckets. */
  async putPrivate(name: string, value: string, ifRevision: string | null): Promise<PrivateRecord> {
    checkPrivateName(name);
    const file = this.#bucket.file(this.layout.privateRecord(name));
    await this.#breaker.run(
      `private record ${name}`,
      () =>
        file.save(value, {
          resumable: false,
          contentType: 'application/json',
          metadata: { cacheControl: 'no-store' },
          ...(this.#acl === 'fine-grained' ? { predefinedAcl: 'private' as const } : {}),
          preconditionOpts: { ifGenerationMatch: ifRevision ?? 0 },
        }),
      (err) => fromGcsError(err, `private record ${name}`),
    );
    return { value, revision: String((file.metadata as FileMetadata).generation) };
  }

  async delete(id: string, ifRevision?: string): Promise<boolean> {
    const file = this.#recordFile(id);
    const deleted = await this.#breaker.run(
      `cluster ${id}`,
      () =>
        file.delete(ifRevision !== undefined ? { ifGenerationMatch: ifRevision } : {}).then(
          () => true,
          (err: unknown) => {
            if (isNotFound(err)) return false;
            throw err;
          },
        ),
      (err) => fromGcsError(err, `cluster ${id}`),
    );
    if (!deleted) return false;
    await this.#mirror.remove(id).catch((err) => {
      this.#onBackgroundError(`deleting the documents of cluster ${id}`, err);
    });
    return true;
  }

  async list({ after, limit }: { after?: string; limit: number }): Promise<ListPage> {
    const ids = await this.#listIds(after, limit + 1);
    const page = ids.slice(0, limit);
    const records: StoredRecord[] = [];
    for (let i = 0; i < page.length; i += LIST_CONCURRENCY) {
      const batch = await Promise.all(
        page.slice(i, i + LIST_CONCURRENCY).map((id) => this.get(id)),
      );
      for (const stored of batch) if (stored) records.push(stored); // deleted since the listing: skip
    }
    return ids.length > limit ? { records, next: page.at(-1)! } : { records };
  }

  async ping(): Promise<void> {
    const where = `gs://${this.layout.bucket}`;
    await this.#breaker.run(
      where,
      () =>
        this.#bucket.getFiles({
          prefix: this.layout.recordsPrefix,
          maxResults: 1,
          autoPaginate: false,
        }),
      (err) => fromGcsError(err, where),
    );
  }

  /** Rewrites one cluster's documents from its current record (or removes them if it is gone). */
  repair(id: string): Promise<void> {
    return this.#mirror.repair(id, (cluster) => this.get(cluster));
  }

  /** Brings every cluster's documents in line with its record (see GcsMirror.reconcile). */
  reconcile(): Promise<ReconcileReport> {
    return this.#mirror.reconcile((cluster) => this.get(cluster));
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
    return this.#breaker.run(
      where,
      () => this.#listIdsOnce(after, want),
      (err) => fromGcsError(err, where),
    );
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
          reject(
            new IdbridgeError(
              'store_unavailable',
              `Cloud Storage sent ${file.name} without its generation; the store cannot compare-and-swap without it`,
            ),
          );
          return;
        }
        resolve({ body: Buffer.concat(chunks), generation });
      });
  });
}
