import type { Storage } from '@google-cloud/storage';
import type { GcsOptions } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import { gcsStatus } from '../gcs/errors.js';
import { bucketPublicBase, gcsLayout, type GcsLayout } from '../gcs/layout.js';
import { writeClusterDocuments } from '../gcs/mirror.js';
import { publishCluster } from '../oidc/published.js';
import type { CheckedDocuments } from './documents.js';
import { SyncFailure } from './failure.js';
import type { PublishOutcome, SyncTarget } from './target.js';

export interface GcsTargetOptions {
  storage: Storage;
  bucket: string;
  prefix: string;
  cluster: string;
  /** The issuer the published discovery document names (checked against the cluster's first). */
  issuer: string;
  acl: GcsOptions['objectAcl'];
}

/**
 * `idbridge sync --target gcs://BUCKET/PREFIX`: writes the cluster's two public documents straight
 * into the bucket layout, with the bytes and headers the issuer routes and the GCS store produce.
 * Unchanged documents are not rewritten. Documents an idbridge registry manages are never touched.
 */
export class GcsTarget implements SyncTarget {
  readonly description: string;
  readonly #options: GcsTargetOptions;
  readonly #layout: GcsLayout;

  constructor(options: GcsTargetOptions) {
    this.#options = options;
    this.#layout = gcsLayout(options.bucket, options.prefix);
    this.description = this.#layout.url(
      `${options.prefix ? `${options.prefix}/` : ''}${options.cluster}/`,
    );
  }

  /** The issuer a bucket serves cluster `c` under when its public URL is the issuer. */
  static bucketIssuer(bucket: string, prefix: string, cluster: string): string {
    return `${bucketPublicBase('https://storage.googleapis.com', { bucket, prefix })}/${cluster}`;
  }

  async publish(checked: CheckedDocuments): Promise<PublishOutcome> {
    const docs = await publishCluster(
      this.#options.cluster,
      this.#options.issuer,
      checked.jwks.keys,
    );
    let written: number;
    try {
      written = await writeClusterDocuments(
        this.#options.storage.bucket(this.#options.bucket),
        this.#layout,
        docs,
        { owner: 'sync', acl: this.#options.acl },
      );
    } catch (err) {
      if (!(err instanceof IdbridgeError)) throw err;
      if (err.code === 'permission_denied')
        throw new SyncFailure('refused', err.message, false, { cause: err });
      const status = gcsStatus(err.cause);
      const retryable =
        err.code === 'conflict' || status === undefined || status === 429 || status >= 500;
      throw new SyncFailure(retryable ? 'unavailable' : 'refused', err.message, retryable, {
        cause: err,
      });
    }
    return { changed: written > 0, added: [], removed: [], warnings: checked.jwks.warnings };
  }
}
