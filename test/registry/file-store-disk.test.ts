import { execFileSync } from 'node:child_process';
import * as fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { healthRoutes } from '../../src/http/health.js';
import { FileStore } from '../../src/registry/file-store.js';
import type { FileStoreFs } from '../../src/registry/file-store-fs.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { startServe, tempDir } from '../support/serve.js';

const { readdir, open, rm, truncate } = fsPromises;
const now = new Date().toISOString();
const seed: ClusterRecord = {
  id: 'c1',
  issuer: 'https://issuer.example/c1',
  syncSubject: 'system:serviceaccount:a:b',
  keys: [],
  keyEvents: [],
  createdAt: now,
  updatedAt: now,
  version: 1,
};
/** A record of about 9 KiB: more than the one page a nearly full disk has left. */
const audiences = Array.from(
  { length: 20 },
  (_, i) => `https://audience.example/${i}/${'a'.repeat(420)}`,
);
const large: ClusterRecord = { ...seed, version: 2, broker: { audiences } };

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
  });
}

/**
 * node:fs/promises, except that a file created here (`wx`) takes at most `room.bytes` bytes: a
 * write beyond that writes what fits, then fails with ENOSPC, as a nearly full disk does.
 */
function nearlyFullFs(room: { bytes: number }): FileStoreFs {
  const limitedOpen = (async (path: string, flags: string, mode?: number) => {
    const handle = await open(path, flags, mode);
    if (flags !== 'wx') return handle;
    return Object.assign(Object.create(handle) as typeof handle, {
      writeFile: async (data: string | Buffer) => {
        const bytes = Buffer.from(data);
        await handle.writeFile(bytes.subarray(0, Math.min(bytes.length, room.bytes)));
        if (bytes.length > room.bytes) throw enospc();
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    });
  }) as FileStoreFs['open'];
  return { ...fsPromises, open: limitedOpen };
}

async function readyz(store: FileStore): Promise<{
  status: number;
  body: { status?: string; error?: { code: string; message: string } };
}> {
  const res = await healthRoutes(() => store.ping()).request('/readyz');
  return {
    status: res.status,
    body: (await res.json()) as { status?: string; error?: { code: string; message: string } },
  };
}

describe('file store on a nearly full disk (injected filesystem)', () => {
  it('answers store_unavailable when the temporary record fails part-way, removes it, and changes nothing stored', async () => {
    const dir = await tempDir();
    const room = { bytes: Number.MAX_SAFE_INTEGER };
    const store = await FileStore.open(dir.path, { fs: nearlyFullFs(room) });
    await store.put(seed, null);
    room.bytes = 4096;
    const failure = await store.put(large, '1').then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({ code: 'store_unavailable', status: 503 });
    expect((failure as Error).message).toContain('(ENOSPC)');
    expect((failure as Error).message).toContain('free space');
    expect(await readdir(join(dir.path, 'clusters'))).toEqual(['c1.json']);
    expect(await store.get('c1')).toEqual({ record: seed, revision: '1' });
    // The lock was released: once there is room again, the same write goes through.
    room.bytes = Number.MAX_SAFE_INTEGER;
    await store.put(large, '1');
    expect((await store.get('c1'))!.record.broker).toEqual({ audiences });
    await dir.remove();
  });

  it('/readyz answers 503 while a record as large as the last one cannot be written, and 200 once it can', async () => {
    const dir = await tempDir();
    const room = { bytes: Number.MAX_SAFE_INTEGER };
    const store = await FileStore.open(dir.path, { fs: nearlyFullFs(room) });
    await store.put(seed, null);
    expect(await readyz(store)).toEqual({ status: 200, body: { status: 'ready' } });

    room.bytes = 5000; // room for the 4 KiB probe, not for the 9 KiB record
    await expect(store.put(large, '1')).rejects.toMatchObject({ code: 'store_unavailable' });
    const down = await readyz(store);
    expect(down.status).toBe(503);
    expect(down.body.error!.code).toBe('store_unavailable');
    expect(down.body.error!.message).toContain('(ENOSPC)');
    expect(await readdir(join(dir.path, 'clusters'))).toEqual(['c1.json']); // the probe left nothing either

    room.bytes = Number.MAX_SAFE_INTEGER;
    expect(await readyz(store)).toEqual({ status: 200, body: { status: 'ready' } });
    await dir.remove();
  });
});

/** A 1 MiB tmpfs of our own (needs root or CAP_SYS_ADMIN); null with the reason when it cannot be mounted. */
async function mountTmpfs(): Promise<
  { path: string; remove(): Promise<void> } | { reason: string }
> {
  const dir = await tempDir('idbridge-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir.path], {
      stdio: 'pipe',
    });
  } catch (err) {
    await dir.remove();
    return {
      reason: `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()}); the injected-filesystem tests above cover the same paths`,
    };
  }
  return {
    path: dir.path,
    remove: async () => {
      execFileSync('umount', [dir.path], { stdio: 'pipe' });
      await dir.remove();
    },
  };
}

/** Fills the filesystem of `path` and then frees exactly `pages` pages again. */
async function fillLeaving(path: string, pages: number): Promise<void> {
  const handle = await open(path, 'w');
  const page = Buffer.alloc(4096, 1);
  let written = 0;
  try {
    for (;;) written += (await handle.write(page)).bytesWritten;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
  await truncate(path, Math.floor(written / 4096) * 4096 - pages * 4096);
}

const tmpfs = await mountTmpfs();
afterAll(async () => {
  if ('path' in tmpfs) await tmpfs.remove();
});

describe('file store on a real full and read-only disk (tmpfs)', () => {
  it('serve: a write that runs out of space part-way is a 503 store_unavailable, leaves nothing, logs ENOSPC; /readyz follows the disk', async (ctx) => {
    if (!('path' in tmpfs)) return ctx.skip(tmpfs.reason);
    const data = join(tmpfs.path, 'data');
    const token = 'tmpfs-admin-token-0123456789';
    const serve = await startServe({ IDBRIDGE_STORE: `file:${data}`, IDBRIDGE_ADMIN_TOKEN: token });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const patch = (change: object = { broker: { audiences } }) =>
      fetch(`${serve.url}/api/v1/clusters/c1`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify(change),
      });
    const ready = async () => (await fetch(`${serve.url}/readyz`)).status;
    try {
      expect(
        (
          await fetch(`${serve.url}/api/v1/clusters`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ id: 'c1' }),
          })
        ).status,
      ).toBe(201);
      const before = await (await fetch(`${serve.url}/api/v1/clusters/c1`, { headers })).json();
      expect(await ready()).toBe(200);

      const filler = join(tmpfs.path, 'filler');
      await fillLeaving(filler, 1);
      const refused = await patch();
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('store_unavailable');
      expect(body.error.message).toContain('(ENOSPC)');
      expect(await readdir(join(data, 'clusters'))).toEqual(['c1.json']);
      expect(await (await fetch(`${serve.url}/api/v1/clusters/c1`, { headers })).json()).toEqual(
        before,
      );
      const logged = serve.logs.filter((line) => line.includes('ENOSPC'));
      expect(logged.length).toBeGreaterThan(0);
      expect(serve.logs.join('\n')).not.toContain(token);
      expect(await ready()).toBe(503);

      await rm(filler);
      expect(await ready()).toBe(200);
      expect((await patch()).status).toBe(200);

      // Read-only: the probe cannot create its file (a chmod is no test as root).
      execFileSync('mount', ['-o', 'remount,ro', tmpfs.path], { stdio: 'pipe' });
      try {
        const res = await fetch(`${serve.url}/readyz`);
        expect(res.status).toBe(503);
        expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
          '(EROFS)',
        );
        expect((await patch({ syncSubject: 'system:serviceaccount:ro:writer' })).status).toBe(503);
      } finally {
        execFileSync('mount', ['-o', 'remount,rw', tmpfs.path], { stdio: 'pipe' });
      }
      expect(await ready()).toBe(200);
      expect(await readdir(join(data, 'clusters'))).toEqual(['c1.json']);
    } finally {
      await serve.close();
    }
  });
});
