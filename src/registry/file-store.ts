import { watch } from 'node:fs';
import { join } from 'node:path';
import { IdbridgeError, StoreConflictError } from '../errors.js';
import { isClusterId } from './cluster-id.js';
import {
  acquireLock,
  breakIfStale,
  isStale,
  LockBusyError,
  type HeldLock,
  type LockOptions,
} from './file-lock.js';
import { currentOwner, nonce, ownerOfName, ownerTag, type Owner } from './file-owner.js';
import { nodeFs, type FileStoreFs } from './file-store-fs.js';
import { clusterRecordSchema, type ClusterRecord } from './record.js';
import { createHash } from 'node:crypto';
import { checkPrivateName } from './private-name.js';
import type { ClusterStore, ListPage, PrivateRecord, StoredRecord } from './store.js';

/** A leftover whose owner this host cannot judge (another PID namespace) is stale after this long. */
const UNKNOWN_OWNER_STALE_MS = 10_000;
/** How long a writer waits for another one before giving up with a conflict (the caller retries). */
const LOCK_WAIT_MS = 15_000;
/** The readiness probe writes at least this much, and as much as the last record written. */
const MIN_PROBE_BYTES = 4096;
const MAX_PROBE_BYTES = 1024 * 1024;

export interface FileStoreOptions {
  /** The filesystem (tests inject failures); node:fs/promises by default. */
  fs?: FileStoreFs;
  /** Clock for the age of leftovers whose owner cannot be judged. */
  now?: () => number;
}

/**
 * `file:DIR` — one JSON file per cluster under DIR/clusters. Writes go to a temporary file that
 * is fsynced and renamed over the record, so a reader (in this or another process) sees the old
 * record or the new one, never a torn one, even if the writer is killed mid-write. A lock
 * (file-lock.ts) makes compare-and-swap hold across processes of one host sharing the directory,
 * and is never held twice, even when writers are killed: a dead writer's lock is broken at once,
 * atomically. Every temporary file carries its owner, so a start removes all a dead writer left.
 */
export class FileStore implements ClusterStore {
  readonly description: string;
  readonly #dir: string;
  /** Private records (the fleet signing keys): DIR/private, mode 0700, files 0600. */
  readonly #privateDir: string;
  readonly #fs: FileStoreFs;
  readonly #now: () => number;
  readonly #me: Owner;
  /** Bytes of the last record this store tried to write: the readiness probe writes as many. */
  #lastWriteBytes = 0;

  private constructor(root: string, me: Owner, options: FileStoreOptions) {
    this.description = `file:${root}`;
    this.#dir = join(root, 'clusters');
    this.#privateDir = join(root, 'private');
    this.#fs = options.fs ?? nodeFs;
    this.#now = options.now ?? Date.now;
    this.#me = me;
  }

  static async open(root: string, options: FileStoreOptions = {}): Promise<FileStore> {
    const store = new FileStore(root, await currentOwner(), options);
    await store.#fs.mkdir(store.#dir, { recursive: true, mode: 0o700 });
    await store.#removeLeftovers();
    return store;
  }

  #path(id: string): string {
    if (!isClusterId(id))
      throw new IdbridgeError(
        'invalid_cluster_id',
        `cluster id ${JSON.stringify(id.slice(0, 80))} is not a valid DNS label`,
      );
    return join(this.#dir, `${id}.json`);
  }

  /** A temporary name beside `path` that says who wrote it, so a start can tell a dead writer's leftover. */
  #tempName(path: string): string {
    return `${path}.${ownerTag(this.#me)}.${nonce()}.tmp`;
  }

  get #lockOptions(): LockOptions {
    return {
      fs: this.#fs,
      me: this.#me,
      now: this.#now,
      unknownOwnerStaleMs: UNKNOWN_OWNER_STALE_MS,
      waitMs: LOCK_WAIT_MS,
    };
  }

  async get(id: string): Promise<StoredRecord | null> {
    const path = this.#path(id);
    let text: string;
    try {
      text = await this.#fs.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(`cannot read ${path}`, err);
    }
    let record: ClusterRecord;
    try {
      record = clusterRecordSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new IdbridgeError(
        'internal',
        `the record file ${path} is not a valid cluster record; restore it from backup or delete it`,
        [],
        { cause: err },
      );
    }
    return { record, revision: String(record.version) };
  }

  async put(record: ClusterRecord, ifRevision: string | null): Promise<StoredRecord> {
    const path = this.#path(record.id);
    clusterRecordSchema.parse(record); // never write what could not be read back
    return this.#withLock(path, async () => {
      const current = await this.get(record.id);
      if ((current?.revision ?? null) !== ifRevision)
        throw new StoreConflictError(`cluster ${record.id}`);
      const contents = `${JSON.stringify(record, null, 2)}\n`;
      this.#lastWriteBytes = Buffer.byteLength(contents);
      await this.#writeAtomically(path, contents);
      return { record, revision: String(record.version) };
    });
  }

  async getPrivate(name: string): Promise<PrivateRecord | null> {
    checkPrivateName(name);
    const path = join(this.#privateDir, `${name}.json`);
    try {
      const value = await this.#fs.readFile(path, 'utf8');
      return { value, revision: contentRevision(value) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(`cannot read ${path}`, err);
    }
  }

  async putPrivate(name: string, value: string, ifRevision: string | null): Promise<PrivateRecord> {
    checkPrivateName(name);
    await this.#fs.mkdir(this.#privateDir, { recursive: true, mode: 0o700 }).catch((err) => {
      throw unavailable(`cannot create ${this.#privateDir}`, err);
    });
    const path = join(this.#privateDir, `${name}.json`);
    return this.#withLock(path, async () => {
      const current = await this.getPrivate(name);
      if ((current?.revision ?? null) !== ifRevision)
        throw new StoreConflictError(`private record ${name}`);
      await this.#writeAtomically(path, value, this.#privateDir);
      return { value, revision: contentRevision(value) };
    });
  }

  async delete(id: string, ifRevision?: string): Promise<boolean> {
    const path = this.#path(id);
    return this.#withLock(path, async () => {
      const current = await this.get(id);
      if (!current) return false;
      if (ifRevision !== undefined && current.revision !== ifRevision)
        throw new StoreConflictError(`cluster ${id}`);
      await this.#fs.unlink(path).catch((err) => {
        throw unavailable(`cannot delete ${path}`, err);
      });
      return true;
    });
  }

  async list({ after, limit }: { after?: string; limit: number }): Promise<ListPage> {
    const ids = (
      await this.#fs.readdir(this.#dir).catch((err) => {
        throw unavailable(`cannot list ${this.#dir}`, err);
      })
    )
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

  /**
   * Ready when a record could be written now: a probe file as large as the last record written
   * (at least 4 KiB) is created, written and removed, so a full or read-only disk answers 503.
   * Not fsynced: ENOSPC and EROFS show at write and close, and the probe is unlinked at once.
   */
  async ping(): Promise<void> {
    await this.#fs.stat(this.#dir).catch((err) => {
      throw unavailable(`the data directory ${this.#dir} is not accessible`, err);
    });
    const probe = this.#tempName(join(this.#dir, '.readyz'));
    const bytes = Math.min(MAX_PROBE_BYTES, Math.max(MIN_PROBE_BYTES, this.#lastWriteBytes));
    try {
      await this.#writeFile(probe, Buffer.alloc(bytes), { sync: false });
    } catch (err) {
      throw unavailable(`cannot write ${bytes} bytes to the data directory ${this.#dir}`, err);
    } finally {
      await this.#fs.rm(probe, { force: true }).catch(() => {});
    }
  }

  async #withLock<T>(path: string, action: () => Promise<T>): Promise<T> {
    let lock: HeldLock;
    try {
      lock = await acquireLock(`${path}.lock`, this.#lockOptions);
    } catch (err) {
      if (err instanceof LockBusyError)
        throw new StoreConflictError(`cluster record ${path} (locked by another writer)`);
      throw unavailable(`cannot lock ${path}`, err);
    }
    try {
      return await action();
    } finally {
      await lock.release();
    }
  }

  /**
   * Temporary record files, lock directories and readiness probes whose owner is not running
   * (dead, or a predecessor with our pid), whatever their age; a leftover whose owner this host
   * cannot judge, once it is older than any write takes.
   */
  async #removeLeftovers(): Promise<void> {
    // The private records' directory too: a dead writer's temporary file there holds a private key.
    const privateNames = await this.#fs.readdir(this.#privateDir).catch(() => [] as string[]);
    for (const [dir, name] of [
      ...(await this.#fs.readdir(this.#dir)).map((n) => [this.#dir, n] as const),
      ...privateNames.map((n) => [this.#privateDir, n] as const),
    ]) {
      const path = join(dir, name);
      try {
        if (name.endsWith('.lock')) {
          await breakIfStale(path, this.#lockOptions);
        } else if (
          name.endsWith('.tmp') &&
          (await isStale(path, ownerOfName(name), this.#lockOptions))
        ) {
          await this.#fs.rm(path, { recursive: true, force: true });
        }
      } catch {
        // Best effort: a leftover that cannot be removed now is judged again by the next writer or start.
      }
    }
  }

  /** Temporary file, fsync, rename over the record, fsync the directory; the temporary file never stays. */
  async #writeAtomically(path: string, contents: string, dirPath = this.#dir): Promise<void> {
    const temp = this.#tempName(path);
    try {
      await this.#writeFile(temp, contents, { sync: true });
      await this.#fs.rename(temp, path);
    } catch (err) {
      await this.#fs.rm(temp, { force: true }).catch(() => {});
      throw unavailable(`cannot write ${path}`, err);
    }
    // Make the rename itself durable.
    try {
      const dir = await this.#fs.open(dirPath, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      throw unavailable(`cannot sync ${dirPath} after replacing ${path}`, err);
    }
  }

  /** Creates `path` (it must not exist) with `contents`; the caller removes it if this throws. */
  async #writeFile(
    path: string,
    contents: string | Buffer,
    { sync }: { sync: boolean },
  ): Promise<void> {
    const handle = await this.#fs.open(path, 'wx', 0o600);
    try {
      await handle.writeFile(contents);
      if (sync) await handle.sync();
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    await handle.close(); // some filesystems (NFS) report a full disk only here
  }
}

/** A private record's revision: the SHA-256 of its bytes (its writes carry no version of their own). */
function contentRevision(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

function unavailable(message: string, cause: unknown): IdbridgeError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new IdbridgeError(
    'store_unavailable',
    `${message}${code ? ` (${code})` : ''}; check the data directory's permissions and free space`,
    [],
    { cause },
  );
}
