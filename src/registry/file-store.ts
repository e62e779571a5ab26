import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IdbridgeError, StoreConflictError } from '../errors.js';
import { isClusterId } from './cluster-id.js';
import { clusterRecordSchema, type ClusterRecord } from './record.js';
import type { ClusterStore, ListPage, StoredRecord } from './store.js';

/** A lock older than this belongs to a writer that died; writes take milliseconds. */
const STALE_LOCK_MS = 10_000;
/** How long a writer waits for another one before giving up with a conflict (the caller retries). */
const LOCK_WAIT_MS = 15_000;

/**
 * `file:DIR` — one JSON file per cluster under DIR/clusters. Writes go to a temporary file that
 * is fsynced and renamed over the record, so a reader (in this or another process) sees the old
 * record or the new one, never a torn one, even if the writer is killed mid-write. A lock file
 * created with O_EXCL makes compare-and-swap hold across processes of one host sharing the
 * directory; a lock whose writer died (pid gone) or that is older than 10 s is broken.
 */
export class FileStore implements ClusterStore {
  readonly description: string;
  readonly #dir: string;

  private constructor(root: string) {
    this.description = `file:${root}`;
    this.#dir = join(root, 'clusters');
  }

  static async open(root: string): Promise<FileStore> {
    const store = new FileStore(root);
    await mkdir(store.#dir, { recursive: true, mode: 0o700 });
    await store.#removeLeftovers();
    return store;
  }

  #path(id: string): string {
    if (!isClusterId(id)) throw new IdbridgeError('invalid_cluster_id', `cluster id ${JSON.stringify(id.slice(0, 80))} is not a valid DNS label`);
    return join(this.#dir, `${id}.json`);
  }

  async get(id: string): Promise<StoredRecord | null> {
    const path = this.#path(id);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(`cannot read ${path}`, err);
    }
    let record: ClusterRecord;
    try {
      record = clusterRecordSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new IdbridgeError('internal', `the record file ${path} is not a valid cluster record; restore it from backup or delete it`, [], { cause: err });
    }
    return { record, revision: String(record.version) };
  }

  async put(record: ClusterRecord, ifRevision: string | null): Promise<StoredRecord> {
    const path = this.#path(record.id);
    clusterRecordSchema.parse(record); // never write what could not be read back
    return this.#withLock(path, async () => {
      const current = await this.get(record.id);
      if ((current?.revision ?? null) !== ifRevision) throw new StoreConflictError(`cluster ${record.id}`);
      await writeAtomically(path, `${JSON.stringify(record, null, 2)}\n`);
      return { record, revision: String(record.version) };
    });
  }

  async delete(id: string, ifRevision?: string): Promise<boolean> {
    const path = this.#path(id);
    return this.#withLock(path, async () => {
      const current = await this.get(id);
      if (!current) return false;
      if (ifRevision !== undefined && current.revision !== ifRevision) throw new StoreConflictError(`cluster ${id}`);
      await unlink(path);
      return true;
    });
  }

  async list({ after, limit }: { after?: string; limit: number }): Promise<ListPage> {
    const ids = (await readdir(this.#dir))
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .filter((id) => isClusterId(id) && (after === undefined || id > after))
      .sort();
    const records: StoredRecord[] = [];
    let last: string | undefined;
    for (const id of ids) {
      if (records.length === limit) return { records, next: last! };
      const stored = await this.get(id);
      if (stored) records.push(stored); // deleted between readdir and read: skip it
      last = id;
    }
    return { records };
  }

  /** inotify (or the platform's equivalent) on the records directory: every rename lands here. */
  watch(listener: (id: string) => void): () => void {
    const watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
      const file = name ?? undefined;
      if (!file?.endsWith('.json')) return;
      const id = file.slice(0, -'.json'.length);
      if (isClusterId(id)) listener(id);
    });
    watcher.on('error', () => watcher.close()); // callers fall back to revalidation
    return () => watcher.close();
  }

  async ping(): Promise<void> {
    await stat(this.#dir).catch((err) => { throw unavailable(`the data directory ${this.#dir} is not accessible`, err); });
  }

  async #withLock<T>(path: string, action: () => Promise<T>): Promise<T> {
    const lock = `${path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      // The lock is created with its owner's pid already in it (write a temporary file, then
      // link it into place, which fails if the lock exists), so a writer killed at any moment
      // never leaves an anonymous lock behind.
      const claim = `${lock}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(claim, `${process.pid}\n`, { mode: 0o600 });
        await link(claim, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unavailable(`cannot create ${lock}`, err);
        if (await isStale(lock)) {
          await rm(lock, { force: true });
          continue;
        }
        if (Date.now() > deadline) throw new StoreConflictError(`cluster record ${path} (locked by another writer)`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 2 + attempt * 2)));
      } finally {
        await rm(claim, { force: true });
      }
    }
    try {
      return await action();
    } finally {
      await rm(lock, { force: true });
    }
  }

  /** Temporary files and locks left by a writer that was killed. */
  async #removeLeftovers(): Promise<void> {
    for (const name of await readdir(this.#dir)) {
      if (!name.endsWith('.tmp') && !name.endsWith('.lock')) continue;
      const path = join(this.#dir, name);
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await rm(path, { force: true });
    }
  }
}

/** A lock is stale when its writer died (its pid is gone) or it is older than any write takes. */
async function isStale(lock: string): Promise<boolean> {
  const [owner, age] = await Promise.all([
    readFile(lock, 'utf8').then((text) => Number.parseInt(text, 10), () => Number.NaN),
    stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0),
  ]);
  if (age > STALE_LOCK_MS) return true;
  if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid) return false;
  try {
    process.kill(owner, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function writeAtomically(path: string, contents: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(contents, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw unavailable(`cannot replace ${path}`, err);
  }
  // Make the rename itself durable.
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function unavailable(message: string, cause: unknown): IdbridgeError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new IdbridgeError('store_unavailable', `${message}${code ? ` (${code})` : ''}; check the data directory's permissions and free space`, [], { cause });
}
