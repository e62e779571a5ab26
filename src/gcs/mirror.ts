import { createHash } from 'node:crypto';
import type { Bucket, File, FileMetadata } from '@google-cloud/storage';
import type { GcsOptions } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import {
  recordDocuments,
  type ClusterDocuments,
  type PublishedDocument,
  type PublishableRecord,
} from '../oidc/published.js';
import { fromGcsError, isNotFound, isPreconditionFailed } from './errors.js';
import type { GcsLayout } from './layout.js';

/** Custom metadata idbridge puts on the public documents it writes. */
export const OWNER_KEY = 'idbridge-owner';
/** On documents the registry writes: the generation of the record they were built from. */
export const RECORD_GENERATION_KEY = 'idbridge-record-generation';
/**
 * On every document written: the version of the publication rule its bytes follow. Raised when
 * the rule changes what a record publishes (2: keys failing the RSA rule are withheld), so the
 * reconciliation rewrites documents an older version wrote even though their record is unchanged.
 */
export const PUBLICATION_KEY = 'idbridge-publication';
export const PUBLICATION_VERSION = '2';
/** On a record object: the MD5 of each public document it implies, so a listing shows drift. */
const JWKS_MD5_KEY = 'idbridge-jwks-md5';
const DISCOVERY_MD5_KEY = 'idbridge-discovery-md5';
/** Documents without a record are deleted only once they are this old (a create may be under way). */
const ORPHAN_GRACE_MS = 60_000;

/** Who wrote a document: the GCS store (from a record) or `idbridge sync --target gcs://` (no record). */
export type DocumentOwner = 'registry' | 'sync';

export type DocumentWrite = 'written' | 'unchanged' | 'superseded';

/** One public document as it goes into the bucket: the exact bytes and headers the issuer routes serve. */
export interface DocumentObject {
  name: string;
  doc: PublishedDocument;
  md5: string;
}

const MAX_ATTEMPTS = 6;

export function md5Base64(body: Uint8Array): string {
  return createHash('md5').update(body).digest('base64');
}

/** The JWKS first, then the discovery document: a verifier never sees a discovery document ahead of its keys. */
export function documentObjects(layout: GcsLayout, docs: ClusterDocuments): DocumentObject[] {
  return [
    { name: layout.jwks(docs.cluster), doc: docs.jwks, md5: md5Base64(docs.jwks.body) },
    {
      name: layout.discovery(docs.cluster),
      doc: docs.discovery,
      md5: md5Base64(docs.discovery.body),
    },
  ];
}

export interface WriteDocumentOptions {
  owner: DocumentOwner;
  acl: GcsOptions['objectAcl'];
  /** Registry writes: the record generation; a document built from a newer record is never replaced. */
  recordGeneration?: string;
}

/**
 * Writes one public document unless the bucket already holds the same bytes and headers (a
 * no-change publish costs one metadata read and writes nothing). Each write is conditional on the
 * generation just read, so two writers never interleave: the loser re-reads and, if the document
 * now comes from a newer record, leaves it alone.
 */
export async function writeDocument(
  bucket: Bucket,
  layout: GcsLayout,
  object: DocumentObject,
  options: WriteDocumentOptions,
): Promise<DocumentWrite> {
  const file = bucket.file(object.name);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await metadataOrNull(file, layout);
    if (current) {
      const owner = current.metadata?.[OWNER_KEY];
      if (options.owner === 'sync' && owner === 'registry') {
        throw new IdbridgeError(
          'permission_denied',
          `${layout.url(object.name)} is managed by an idbridge registry (IDBRIDGE_STORE=gcs://${layout.bucket}/${layout.prefix}); push with --api instead of writing the bucket directly`,
        );
      }
      const label = current.metadata?.[RECORD_GENERATION_KEY];
      if (
        options.recordGeneration !== undefined &&
        typeof label === 'string' &&
        /^\d+$/.test(label) &&
        BigInt(label) > BigInt(options.recordGeneration)
      )
        return 'superseded';
      if (
        current.md5Hash === object.md5 &&
        current.contentType === object.doc.headers['content-type'] &&
        current.cacheControl === object.doc.headers['cache-control'] &&
        owner === options.owner &&
        current.metadata?.[PUBLICATION_KEY] === PUBLICATION_VERSION
      ) {
        return 'unchanged';
      }
    }
    try {
      await file.save(Buffer.from(object.doc.body), {
        resumable: false,
        contentType: object.doc.headers['content-type']!,
        metadata: {
          cacheControl: object.doc.headers['cache-control'],
          md5Hash: object.md5,
          metadata: {
            [OWNER_KEY]: options.owner,
            [PUBLICATION_KEY]: PUBLICATION_VERSION,
            ...(options.recordGeneration !== undefined
              ? { [RECORD_GENERATION_KEY]: options.recordGeneration }
              : {}),
          },
        },
        ...(options.acl === 'fine-grained' ? { predefinedAcl: 'publicRead' as const } : {}),
        preconditionOpts: { ifGenerationMatch: current?.generation ?? 0 },
      });
      return 'written';
    } catch (err) {
      if (!isPreconditionFailed(err)) throw fromGcsError(err, layout.url(object.name));
    }
  }
  throw new IdbridgeError(
    'conflict',
    `${layout.url(object.name)} is being written by other writers right now; retry`,
  );
}

/** Writes both documents of a cluster; returns how many objects were written. */
export async function writeClusterDocuments(
  bucket: Bucket,
  layout: GcsLayout,
  docs: ClusterDocuments,
  options: WriteDocumentOptions,
): Promise<number> {
  let written = 0;
  for (const object of documentObjects(layout, docs)) {
    if ((await writeDocument(bucket, layout, object, options)) === 'written') written++;
  }
  return written;
}

/** Deletes a cluster's documents that `owner` wrote (never someone else's); returns how many. */
export async function deleteClusterDocuments(
  bucket: Bucket,
  layout: GcsLayout,
  cluster: string,
  owner: DocumentOwner,
): Promise<number> {
  let deleted = 0;
  for (const name of [layout.discovery(cluster), layout.jwks(cluster)]) {
    const file = bucket.file(name);
    const current = await metadataOrNull(file, layout);
    if (!current || current.metadata?.[OWNER_KEY] !== owner) continue;
    try {
      await file.delete({ ifGenerationMatch: current.generation! });
      deleted++;
    } catch (err) {
      // Gone already, or rewritten by a writer that now owns it: either way not ours to delete.
      if (!isNotFound(err) && !isPreconditionFailed(err)) throw fromGcsError(err, layout.url(name));
    }
  }
  return deleted;
}

export async function metadataOrNull(file: File, layout: GcsLayout): Promise<FileMetadata | null> {
  try {
    const [metadata] = await file.getMetadata();
    return metadata;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw fromGcsError(err, layout.url(file.name));
  }
}

/** Reads a cluster's current record: the mirror's only view of the registry. */
export type RecordReader = (
  id: string,
) => Promise<{ record: PublishableRecord; revision: string } | null>;

export interface ReconcileReport {
  records: number;
  republished: string[];
  orphansDeleted: string[];
}

export interface GcsMirrorOptions {
  bucket: Bucket;
  layout: GcsLayout;
  acl: GcsOptions['objectAcl'];
  now: () => number;
}

/**
 * The registry's public documents in the bucket layout of DESIGN.md, with the exact bytes and
 * headers the issuer routes serve. The record store beside it stores records only and tells the
 * mirror what it wrote; the mirror derives, writes, removes and reconciles the documents.
 */
export class GcsMirror {
  readonly #bucket: Bucket;
  readonly #layout: GcsLayout;
  readonly #acl: GcsOptions['objectAcl'];
  readonly #now: () => number;

  constructor(options: GcsMirrorOptions) {
    this.#bucket = options.bucket;
    this.#layout = options.layout;
    this.#acl = options.acl;
    this.#now = options.now;
  }

  /** The documents a record publishes (null: none), computed once per write. */
  documentsOf(record: PublishableRecord): Promise<ClusterDocuments | null> {
    return recordDocuments(record);
  }

  /** Labels for the record object: the MD5s of the documents it implies, which reconciliation compares from listings. */
  recordLabels(docs: ClusterDocuments | null): Record<string, string> {
    if (!docs) return {};
    const [jwks, discovery] = documentObjects(this.#layout, docs);
    return { [JWKS_MD5_KEY]: jwks!.md5, [DISCOVERY_MD5_KEY]: discovery!.md5 };
  }

  /** Publishes a record generation's documents (or removes them when it publishes none). */
  async publish(id: string, docs: ClusterDocuments | null, generation: string): Promise<void> {
    if (docs)
      await writeClusterDocuments(this.#bucket, this.#layout, docs, {
        owner: 'registry',
        acl: this.#acl,
        recordGeneration: generation,
      });
    else await deleteClusterDocuments(this.#bucket, this.#layout, id, 'registry');
  }

  /** Removes the documents of a deleted record (only those the registry wrote). */
  async remove(id: string): Promise<void> {
    await deleteClusterDocuments(this.#bucket, this.#layout, id, 'registry');
  }

  /** Rewrites one cluster's documents from its current record (or removes them if it is gone). */
  async repair(id: string, read: RecordReader): Promise<void> {
    const stored = await read(id);
    if (!stored) return this.remove(id);
    await this.publish(id, await this.documentsOf(stored.record), stored.revision);
  }

  /**
   * Brings every cluster's documents in line with its record, from listings alone: only clusters
   * whose documents' MD5s differ from those their record implies, or that an older publication
   * rule wrote, are read and rewritten; documents the registry wrote for a cluster that no longer
   * exists are deleted.
   */
  async reconcile(read: RecordReader): Promise<ReconcileReport> {
    const { records, documents } = await this.#listPrefix();
    const republished: string[] = [];
    const orphansDeleted: string[] = [];
    for (const [id, meta] of records) {
      if (inLine(meta, documents.get(id))) continue;
      await this.#republish(id, meta, read);
      republished.push(id);
    }
    for (const [id, docs] of documents) {
      if (records.has(id)) continue;
      const mine = [docs.jwks, docs.discovery].filter(
        (m) => m?.metadata?.[OWNER_KEY] === 'registry',
      );
      if (mine.length === 0) continue;
      const oldest = Math.min(...mine.map((m) => Date.parse(String(m!.updated))));
      if (this.#now() - oldest < ORPHAN_GRACE_MS) continue;
      // Re-check: the cluster may have been created since the listing.
      if (await read(id)) continue;
      if ((await deleteClusterDocuments(this.#bucket, this.#layout, id, 'registry')) > 0)
        orphansDeleted.push(id);
    }
    return { records: records.size, republished, orphansDeleted };
  }

  /**
   * Repairs a cluster found out of line, and brings its record's labels up to date when today's
   * rule publishes other bytes than the record was labelled with (e.g. a withheld key), so the
   * next reconciliation finds it in line without reading it again.
   */
  async #republish(id: string, listed: FileMetadata, read: RecordReader): Promise<void> {
    const stored = await read(id);
    if (!stored) return this.remove(id);
    const docs = await this.documentsOf(stored.record);
    await this.publish(id, docs, stored.revision);
    const labels = { [JWKS_MD5_KEY]: null, [DISCOVERY_MD5_KEY]: null, ...this.recordLabels(docs) };
    const current = listed.metadata ?? {};
    if (
      String(listed.generation) !== stored.revision ||
      Object.entries(labels).every(([key, value]) => (current[key] ?? null) === value)
    )
      return;
    const name = this.#layout.record(id);
    try {
      await this.#bucket
        .file(name)
        .setMetadata({ metadata: labels }, { ifGenerationMatch: stored.revision });
    } catch (err) {
      // A newer record was written meanwhile: it carries its own labels.
      if (!isPreconditionFailed(err) && !isNotFound(err))
        throw fromGcsError(err, this.#layout.url(name));
    }
  }

  async #listPrefix(): Promise<{
    records: Map<string, FileMetadata>;
    documents: Map<string, ListedDocuments>;
  }> {
    const records = new Map<string, FileMetadata>();
    const documents = new Map<string, ListedDocuments>();
    let pageToken: string | undefined;
    try {
      do {
        const [files, next] = await this.#bucket.getFiles({
          prefix: this.#layout.prefix === '' ? '' : `${this.#layout.prefix}/`,
          autoPaginate: false,
          maxResults: 1000,
          ...(pageToken ? { pageToken } : {}),
        });
        for (const file of files) {
          const id = this.#layout.recordId(file.name);
          if (id !== null) {
            records.set(id, file.metadata);
            continue;
          }
          const doc = this.#layout.document(file.name);
          if (doc)
            documents.set(doc.cluster, {
              ...documents.get(doc.cluster),
              [doc.kind]: file.metadata,
            });
        }
        pageToken = (next as { pageToken?: string } | null)?.pageToken;
      } while (pageToken);
    } catch (err) {
      throw fromGcsError(err, `gs://${this.#layout.bucket}/${this.#layout.prefix}`);
    }
    return { records, documents };
  }
}

interface ListedDocuments {
  jwks?: FileMetadata;
  discovery?: FileMetadata;
}

/** Whether a record's documents are what it implies under today's publication rule (from listing metadata). */
function inLine(record: FileMetadata, docs: ListedDocuments | undefined): boolean {
  const custom = record.metadata ?? {};
  const expectJwks = custom[JWKS_MD5_KEY];
  const expectDiscovery = custom[DISCOVERY_MD5_KEY];
  if (expectJwks === undefined) return !docs?.jwks && !docs?.discovery;
  return (
    [docs?.jwks, docs?.discovery].every(
      (doc) => doc?.metadata?.[PUBLICATION_KEY] === PUBLICATION_VERSION,
    ) &&
    docs?.jwks?.md5Hash === expectJwks &&
    docs?.discovery?.md5Hash === expectDiscovery
  );
}
