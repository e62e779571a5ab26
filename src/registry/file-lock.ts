import { join } from 'node:path';
import {
  ownerOfLegacyLock,
  ownerOfName,
  ownerState,
  ownerTag,
  nonce,
  type Owner,
} from './file-owner.js';
import type { FileStoreFs } from './file-store-fs.js';

/**
 * A cross-process lock that survives kill -9 without ever being held twice.
 *
 * The lock is a directory `PATH` holding one empty file named after its owner
 * (`PID-START-NS-TOKEN.NONCE`, see file-owner.ts). It is taken by renaming a prepared directory
 * onto `PATH`, which is atomic and fails while `PATH` holds an owner file. A stale lock is broken by
 * unlinking *that owner's file by name*, then removing the emptied directory: an unlink names the
 * exact acquisition judged stale, so a waiter that judged late cannot remove a newer owner's lock
 * (its file has another name), and rmdir never removes a directory that holds an owner. An empty
 * `PATH` (a release or a break cut short) is free: the next rename replaces it.
 */
export interface LockOptions {
  fs: FileStoreFs;
  me: Owner;
  now: () => number;
  /** An owner this host cannot judge (another PID namespace, no /proc) is stale after this long. */
  unknownOwnerStaleMs: number;
  /** Give up after this long and let the caller answer a conflict. */
  waitMs: number;
}

export interface HeldLock {
  release(): Promise<void>;
}

/** Thrown by acquireLock when another live writer kept the lock for the whole wait. */
export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
}

/** The syscall failures that mean "the lock exists" for a rename onto it. */
const HELD = new Set(['EEXIST', 'ENOTEMPTY', 'ENOTDIR', 'EISDIR']);

export async function acquireLock(path: string, options: LockOptions): Promise<HeldLock> {
  const { fs, me } = options;
  const ownerFile = `${ownerTag(me)}.${nonce()}`;
  const staging = `${path}.${ownerFile}.tmp`;
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    await fs.writeFile(join(staging, ownerFile), '', { mode: 0o600, flag: 'wx' });
    const deadline = options.now() + options.waitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rename(staging, path);
        return { release: () => releaseLock(fs, path, ownerFile) };
      } catch (err) {
        if (!HELD.has(errorCode(err))) throw err;
      }
      if (await breakIfStale(path, options)) continue;
      if (options.now() > deadline) throw new LockBusyError(`${path} is held by another writer`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, 2 + attempt * 2)));
    }
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

async function releaseLock(fs: FileStoreFs, path: string, ownerFile: string): Promise<void> {
  await fs.unlink(join(path, ownerFile)).catch(() => {});
  await removeIfEmpty(fs, path);
}

/**
 * Breaks the lock at `path` if every owner in it is stale; true if the caller should try again at
 * once (broken, or already free). Also used at start to remove the locks of dead writers.
 */
export async function breakIfStale(
  path: string,
  options: Omit<LockOptions, 'waitMs'>,
): Promise<boolean> {
  const { fs } = options;
  let entries: string[];
  try {
    entries = await fs.readdir(path);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') return true;
    if (code === 'ENOTDIR') return breakLegacyLock(path, options);
    throw err;
  }
  for (const entry of entries) {
    if (!(await isStale(join(path, entry), ownerOfName(entry), options))) return false;
  }
  for (const entry of entries) await fs.unlink(join(path, entry)).catch(() => {});
  await removeIfEmpty(fs, path);
  return true;
}

/** A lock file of an earlier version (`PID\n` in a regular file). unlink never removes a new lock directory. */
async function breakLegacyLock(
  path: string,
  options: Omit<LockOptions, 'waitMs'>,
): Promise<boolean> {
  const text = await options.fs.readFile(path, 'utf8').catch(() => null);
  if (text === null) return true;
  if (!(await isStale(path, ownerOfLegacyLock(text), options))) return false;
  await options.fs.unlink(path).catch(() => {});
  return true;
}

/** Dead owners are stale at once; owners this host cannot judge (or none at all) once old enough. */
export async function isStale(
  path: string,
  owner: Owner | null,
  options: Omit<LockOptions, 'waitMs'>,
): Promise<boolean> {
  const state = owner ? await ownerState(owner, options.me) : 'unknown';
  if (state !== 'unknown') return state === 'dead';
  const modified = await options.fs.stat(path).then(
    (s) => s.mtimeMs,
    () => null,
  );
  return modified === null || options.now() - modified > options.unknownOwnerStaleMs;
}

async function removeIfEmpty(fs: FileStoreFs, path: string): Promise<void> {
  await fs.rmdir(path).catch(() => {}); // ENOTEMPTY: a new owner already took it; ENOENT: already gone
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? '';
}
