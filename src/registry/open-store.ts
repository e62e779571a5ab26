import { resolve } from 'node:path';
import type { GcsOptions } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import { parseBucketPath } from '../gcs/layout.js';
import { MemoryStore } from './memory-store.js';
import type { ClusterStore } from './store.js';

/** Parsed IDBRIDGE_STORE: `file:DIR`, `memory:` or `gcs://BUCKET/PREFIX`. */
export type StoreLocation =
  | { kind: 'memory' }
  | { kind: 'file'; dir: string }
  | { kind: 'gcs'; bucket: string; prefix: string };

export function parseStoreLocation(value: string): StoreLocation {
  if (value === 'memory:') return { kind: 'memory' };
  if (value.startsWith('file:')) {
    const dir = value.slice('file:'.length);
    if (!dir) throw badStore(value);
    return { kind: 'file', dir: resolve(dir) };
  }
  if (value.startsWith('gcs://')) {
    const location = parseBucketPath(value.slice('gcs://'.length));
    if ('problem' in location) throw badStore(value);
    return { kind: 'gcs', ...location };
  }
  throw badStore(value);
}

export interface OpenStoreOptions {
  /** Endpoint and object ACL mode of the GCS store (Config.gcs). */
  gcs?: GcsOptions;
  /** Told about failures of a store's background work (the GCS store's document publishing). */
  onBackgroundError?: (what: string, err: unknown) => void;
}

/** How often the GCS store reconciles its public documents with its records. */
const GCS_RECONCILE_EVERY_MS = 5 * 60_000;

export async function openStore(
  value: string,
  options: OpenStoreOptions = {},
): Promise<ClusterStore> {
  const location = parseStoreLocation(value);
  switch (location.kind) {
    case 'memory':
      return new MemoryStore();
    case 'file': {
      const { FileStore } = await import('./file-store.js');
      return FileStore.open(location.dir);
    }
    case 'gcs': {
      const [{ GcsStore }, { createStorage }] = await Promise.all([
        import('./gcs-store.js'),
        import('../gcs/client.js'),
      ]);
      const gcs = options.gcs ?? { objectAcl: 'fine-grained' };
      return GcsStore.open({
        storage: createStorage(gcs),
        bucket: location.bucket,
        prefix: location.prefix,
        acl: gcs.objectAcl,
        reconcileEveryMs: GCS_RECONCILE_EVERY_MS,
        ...(gcs.timeoutMs !== undefined ? { timeoutMs: gcs.timeoutMs } : {}),
        ...(gcs.failFastMs !== undefined ? { failFastMs: gcs.failFastMs } : {}),
        ...(options.onBackgroundError ? { onBackgroundError: options.onBackgroundError } : {}),
      });
    }
  }
}

function badStore(value: string): IdbridgeError {
  return new IdbridgeError(
    'invalid_request',
    `IDBRIDGE_STORE=${JSON.stringify(value.slice(0, 100))} is not a store; use file:DIR, memory: or gcs://BUCKET/PREFIX`,
  );
}
