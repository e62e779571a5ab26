import { createHash } from 'node:crypto';
import type { Bucket, File, FileMetadata } from '@google-cloud/storage';
import type { GcsOptions } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import type { ClusterDocuments, PublishedDocument } from '../oidc/published.js';
import { fromGcsError, isNotFound, isPreconditionFailed } from './errors.js';
import type { GcsLayout } from './layout.js';

/** Custom metadata idbridge puts on the public documents it writes. */
export const OWNER_KEY = 'idbridge-owner';
/** On documents the registry writes: the generation of the record they were built from. */
export const RECORD_GENERATION_KEY = 'idbridge-record-generation';

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
    { name: layout.discovery(docs.cluster), doc: docs.discovery, md5: md5Base64(docs.discovery.body) },
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
export async function writeDocument(bucket: Bucket, layout: GcsLayout, object: DocumentObject, options: WriteDocumentOptions): Promise<DocumentWrite> {
  const file = bucket.file(object.name);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await metadataOrNull(file, layout);
    if (current) {
      const owner = current.metadata?.[OWNER_KEY];
      if (options.owner === 'sync' && owner === 'registry') {
        throw new IdbridgeError('permission_denied', `${layout.url(object.name)} is managed by an idbridge registry (IDBRIDGE_STORE=gcs://${layout.bucket}/${layout.prefix}); push with --api instead of writing the bucket directly`);
      }
      const label = current.metadata?.[RECORD_GENERATION_KEY];
      if (options.recordGeneration !== undefined && typeof label === 'string' && /^\d+$/.test(label) && BigInt(label) > BigInt(options.recordGeneration)) return 'superseded';
      if (current.md5Hash === object.md5 && current.contentType === object.doc.headers['content-type'] && current.cacheControl === object.doc.headers['cache-control'] && owner === options.owner) {
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
          metadata: { [OWNER_KEY]: options.owner, ...(options.recordGeneration !== undefined ? { [RECORD_GENERATION_KEY]: options.recordGeneration } : {}) },
        },
        ...(options.acl === 'fine-grained' ? { predefinedAcl: 'publicRead' as const } : {}),
        preconditionOpts: { ifGenerationMatch: current?.generation ?? 0 },
      });
      return 'written';
    } catch (err) {
      if (!isPreconditionFailed(err)) throw fromGcsError(err, layout.url(object.name));
    }
  }
  throw new IdbridgeError('conflict', `${layout.url(object.name)} is being written by other writers right now; retry`);
}

/** Writes both documents of a cluster; returns how many objects were written. */
export async function writeClusterDocuments(bucket: Bucket, layout: GcsLayout, docs: ClusterDocuments, options: WriteDocumentOptions): Promise<number> {
  let written = 0;
  for (const object of documentObjects(layout, docs)) {
    if ((await writeDocument(bucket, layout, object, options)) === 'written') written++;
  }
  return written;
}

/** Deletes a cluster's documents that `owner` wrote (never someone else's); returns how many. */
export async function deleteClusterDocuments(bucket: Bucket, layout: GcsLayout, cluster: string, owner: DocumentOwner): Promise<number> {
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
