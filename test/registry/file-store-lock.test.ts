import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/registry/file-store.js';
import { currentOwner, ownerTag, type Owner } from '../../src/registry/file-owner.js';
import { ClusterRegistry } from '../../src/registry/registry.js';
import { startServe, tempDir } from '../support/serve.js';

/** The clock never moves: a lock can only be broken because its owner is gone, never by its age. */
const frozen = () => 1_750_000_000_000;
/** pid_max is far below this on Linux (32768, at most 4194304): no process has it. */
const DEAD_PID = 999999;

const now = new Date(frozen()).toISOString();
const seed = {
  id: 'c1',
  issuer: 'https://issuer.example/c1',
  syncSubject: 'system:serviceaccount:a:b',
  keys: [],
  keyEvents: [],
  createdAt: now,
  updatedAt: now,
  version: 1,
};

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A live process that is not this one (it idles until killed). */
async function liveProcess(): Promise<{ child: ChildProcess; start: string }> {
  const child = spawn(
    process.execPath,
    ['-e', 'setInterval(() => {}, 1000); process.stdout.write("up")'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  children.push(child);
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
  return { child, start: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]! };
}

async function plantLock(dir: string, owner: Owner): Promise<string> {
  const lock = join(dir, 'clusters', 'c1.json.lock');
  await mkdir(lock);
  await writeFile(join(lock, `${ownerTag(owner)}.0123456789ab`), '');
  return lock;
}

/** 20 concurrent read-modify-writes, each adding its own subject; the versions each one was acknowledged with. */
async function concurrentWrites(registry: ClusterRegistry, count = 20) {
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      registry.mutate('c1', (r) => ({
        ...r,
        broker: { subjects: [...(r.broker?.subjects ?? []), `system:serviceaccount:w:n${i}`] },
      })),
    ),
  );
  for (const result of results)
    if (result.status === 'rejected')
      expect((result.reason as { code?: string }).code).toBe('conflict');
  return results.flatMap((result) => (result.status === 'fulfilled' ? [result.value.record] : []));
}

async function expectNoVersionTwice(store: FileStore, acknowledged: { version: number }[]) {
  const versions = acknowledged.map((record) => record.version);
  expect(new Set(versions).size).toBe(versions.length);
  const final = (await store.get('c1'))!.record;
  // Every acknowledged write is in the record: one version each, none overwritten by another.
  expect(final.version).toBe(1 + acknowledged.length);
  expect(final.broker?.subjects?.length).toBe(acknowledged.length);
}

describe('file store lock after a crash', () => {
  it("breaks a dead writer's lock (pid 999999) exactly once: 20 concurrent writers get distinct versions", async () => {
    const dir = await tempDir();
    const store = await FileStore.open(dir.path, { now: frozen });
    await store.put(seed, null);
    // Left by a writer of an earlier version that was killed: a fresh lock file holding its pid.
    await writeFile(join(dir.path, 'clusters', 'c1.json.lock'), `${DEAD_PID}\n`);
    const acknowledged = await concurrentWrites(
      new ClusterRegistry(store, { publicUrl: 'https://issuer.example' }),
    );
    expect(acknowledged.length).toBeGreaterThan(0);
    await expectNoVersionTwice(store, acknowledged);
    expect(await readdir(join(dir.path, 'clusters'))).toEqual(['c1.json']);
    await dir.remove();
  });

  it('breaks a lock of a predecessor that ran with this very pid (PID 1 restarting in a container) at once', async () => {
    const dir = await tempDir();
    const store = await FileStore.open(dir.path, { now: frozen });
    await store.put(seed, null);
    const me = await currentOwner();
    await plantLock(dir.path, { ...me, token: 'feedfacefeedface' });
    const acknowledged = await concurrentWrites(
      new ClusterRegistry(store, { publicUrl: 'https://issuer.example' }),
    );
    expect(acknowledged.length).toBeGreaterThan(0);
    await expectNoVersionTwice(store, acknowledged);
    await dir.remove();
  });

  it('breaks a lock whose pid now belongs to another process (a different start time)', async () => {
    const dir = await tempDir();
    const store = await FileStore.open(dir.path, { now: frozen });
    await store.put(seed, null);
    const { child, start } = await liveProcess();
    await plantLock(dir.path, {
      ...(await currentOwner()),
      pid: child.pid!,
      start: String(Number(start) + 1),
      token: '0123456789abcdef',
    });
    const acknowledged = await concurrentWrites(
      new ClusterRegistry(store, { publicUrl: 'https://issuer.example' }),
      5,
    );
    await expectNoVersionTwice(store, acknowledged);
    await dir.remove();
  });

  it('never breaks the lock of a live writer, however old, and takes it as soon as that writer dies', async () => {
    const dir = await tempDir();
    let clock = frozen();
    // Each reading of the clock is a second later, so the 15 s wait for the lock runs out after a few polls.
    const store = await FileStore.open(dir.path, { now: () => (clock += 1000) });
    await store.put(seed, null);
    const { child, start } = await liveProcess();
    const lock = await plantLock(dir.path, {
      ...(await currentOwner()),
      pid: child.pid!,
      start,
      token: '0123456789abcdef',
    });
    await expect(store.put({ ...seed, version: 2 }, '1')).rejects.toMatchObject({
      code: 'conflict',
      status: 409,
    });
    expect((await readdir(lock)).length).toBe(1);
    expect((await store.get('c1'))!.record.version).toBe(1);

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await store.put({ ...seed, version: 2 }, '1');
    expect((await store.get('c1'))!.record.version).toBe(2);
    await dir.remove();
  });

  it('removes at start every leftover of a writer that is not running, however fresh, and keeps those of live ones', async () => {
    const dir = await tempDir();
    const clusters = join(dir.path, 'clusters');
    await mkdir(clusters, { recursive: true });
    const me = await currentOwner();
    const dead = ownerTag({ ...me, pid: DEAD_PID, start: '1' });
    const predecessor = ownerTag({ ...me, token: 'feedfacefeedface' });
    const { child, start } = await liveProcess();
    const live = ownerTag({ ...me, pid: child.pid!, start, token: '0123456789abcdef' });
    await writeFile(join(clusters, 'c1.json'), JSON.stringify(seed));
    await writeFile(join(clusters, `c1.json.${dead}.0123456789ab.tmp`), '{"half');
    await writeFile(join(clusters, `c1.json.${predecessor}.0123456789ab.tmp`), '{"half');
    await writeFile(join(clusters, `c1.json.${DEAD_PID}.0123456789ab.tmp`), '{"half'); // an earlier version's name
    await writeFile(join(clusters, `c1.json.lock.${DEAD_PID}.01234567.tmp`), `${DEAD_PID}\n`);
    await mkdir(join(clusters, `c2.json.lock.${dead}.0123456789ab.tmp`));
    await writeFile(
      join(clusters, `c2.json.lock.${dead}.0123456789ab.tmp`, `${dead}.0123456789ab`),
      '',
    );
    await writeFile(join(clusters, `.readyz.${dead}.0123456789ab.tmp`), '');
    await plantLock(dir.path, { ...me, pid: DEAD_PID, start: '1' });
    await writeFile(join(clusters, 'c3.json.lock'), `${DEAD_PID}\n`);
    await writeFile(join(clusters, `c4.json.${live}.0123456789ab.tmp`), '{"half');

    await FileStore.open(dir.path, { now: frozen });
    expect((await readdir(clusters)).sort()).toEqual([
      'c1.json',
      `c4.json.${live}.0123456789ab.tmp`,
    ]);
    await dir.remove();
  });

  it("serve: a dead writer's lock left in the data directory does not make two PATCHes share a version", async () => {
    const dir = await tempDir();
    const env = { IDBRIDGE_STORE: `file:${dir.path}` };
    const first = await startServe(env);
    const headers = {
      authorization: `Bearer ${first.adminToken}`,
      'content-type': 'application/json',
    };
    expect(
      (
        await fetch(`${first.url}/api/v1/clusters`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ id: 'c1' }),
        })
      ).status,
    ).toBe(201);
    await first.close();
    await writeFile(join(dir.path, 'clusters', 'c1.json.lock'), `${DEAD_PID}\n`);

    const second = await startServe(env);
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${second.url}/api/v1/clusters/c1`, {
          method: 'PATCH',
          headers,
          body: JSON.stringify({ syncSubject: `system:serviceaccount:w:n${i}` }),
        });
        return {
          status: res.status,
          body: (await res.json()) as { cluster?: { version: number; syncSubject: string } },
        };
      }),
    );
    for (const answer of answers) expect([200, 409]).toContain(answer.status);
    const versions = answers.filter((a) => a.status === 200).map((a) => a.body.cluster!.version);
    expect(versions.length).toBeGreaterThan(0);
    expect(new Set(versions).size).toBe(versions.length);
    const final = (await (await fetch(`${second.url}/api/v1/clusters/c1`, { headers })).json()) as {
      cluster: { version: number; syncSubject: string };
    };
    expect(final.cluster.version).toBe(1 + versions.length);
    expect(
      answers.find((a) => a.body.cluster?.version === final.cluster.version)!.body.cluster!
        .syncSubject,
    ).toBe(final.cluster.syncSubject);
    expect(await readdir(join(dir.path, 'clusters'))).toEqual(['c1.json']);
    await second.close();
    await dir.remove();
  });
});
