import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/registry/file-store.js';
import { generateClusterKey } from '../support/keys.js';
import { DIST, nodeSnippet, seededFileStore } from './store-processes.js';

const WRITER = `
  import { FileStore } from '${DIST}/file-store.js';
  const store = await FileStore.open(process.argv[1]);
  // A large record (50 keys, 100 long subject patterns) so a kill often lands mid-write.
  const jwk = JSON.parse(process.argv[2]);
  const keys = Array.from({ length: 50 }, (_, i) => ({ jwk: { ...jwk, kid: 'k' + i }, firstSeen: new Date().toISOString(), lastSeen: new Date().toISOString() }));
  const subjects = Array.from({ length: 100 }, (_, i) => 'system:serviceaccount:ns:' + 'x'.repeat(250) + i);
  // 'ready' once its first write is acknowledged: each round kills a writer that has written, so a
  // loaded machine cannot turn the whole test into twelve kills before any write.
  let told = false;
  for (;;) {
    const current = await store.get('crash');
    const version = current.record.version + 1;
    await store.put({ ...current.record, version, syncSubject: 'system:serviceaccount:v:' + version, keys, broker: { subjects } }, current.revision);
    if (!told) process.stdout.write('ready\\n');
    told = true;
  }
`;

const INCREMENTER = `
  import { FileStore } from '${DIST}/file-store.js';
  import { ClusterRegistry } from '${DIST}/registry.js';
  const [dir, name, count] = process.argv.slice(1);
  const registry = new ClusterRegistry(await FileStore.open(dir), { publicUrl: 'https://issuer.example' });
  for (let i = 0; i < Number(count); i++) {
    // A 409 "retry the request" is an honest answer under contention, not a lost update: a client
    // retries it. What must never happen is an increment that reports success and is gone.
    for (;;) {
      try {
        await registry.mutate('shared', (r) => ({ ...r, broker: { subjects: [...(r.broker?.subjects ?? []), 'system:serviceaccount:' + name + ':' + i] } }));
        break;
      } catch (err) {
        if (err.code !== 'conflict') throw err;
      }
    }
  }
`;

describe('file store across processes', () => {
  it('leaves the old or the new record, never a torn one, when the writer is killed mid-write', async () => {
    const { dir } = await seededFileStore('crash', 'system:serviceaccount:v:1');
    let lastVersion = 1;
    for (let round = 0; round < 12; round++) {
      const writer = nodeSnippet(WRITER, [dir.path, JSON.stringify(generateClusterKey().jwk)]);
      let stderr = '';
      writer.stderr!.on('data', (chunk) => {
        stderr += chunk;
      });
      const exited = new Promise<number | null>((resolve) => writer.once('exit', resolve));
      await new Promise<void>((resolve) => writer.stdout!.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 15 + Math.random() * 60));
      writer.kill('SIGKILL');
      expect(await exited, `the writer died on its own: ${stderr}`).toBeNull();
      // A fresh reader parses and schema-validates the record: a torn write would throw here.
      const stored = await (await FileStore.open(dir.path)).get('crash');
      expect(stored).not.toBeNull();
      expect(stored!.record.syncSubject).toBe(`system:serviceaccount:v:${stored!.record.version}`);
      expect(stored!.record.version).toBeGreaterThanOrEqual(lastVersion);
      lastVersion = stored!.record.version;
    }
    expect(lastVersion).toBeGreaterThan(1);
    // The dead writers' locks do not block the next writer (their pid is gone).
    const reopened = await FileStore.open(dir.path);
    const current = (await reopened.get('crash'))!;
    await reopened.put(
      { ...current.record, version: current.record.version + 1 },
      current.revision,
    );
    expect(
      (await readdir(join(dir.path, 'clusters'))).filter((name) => name.endsWith('.json')),
    ).toEqual(['crash.json']);
    await dir.remove();
  }, 120_000);

  it('keeps compare-and-swap across processes: no increment is lost', async () => {
    const { dir, store } = await seededFileStore('shared', 'system:serviceaccount:a:b');
    const processes = 4;
    const each = 15;
    await Promise.all(
      Array.from(
        { length: processes },
        (_, p) =>
          new Promise<void>((resolve, reject) => {
            const proc = nodeSnippet(INCREMENTER, [dir.path, `p${p}`, String(each)]);
            let stderr = '';
            proc.stderr!.on('data', (chunk) => {
              stderr += chunk;
            });
            proc.once('exit', (code) =>
              code === 0
                ? resolve()
                : reject(new Error(`incrementer ${p} exited ${code}: ${stderr}`)),
            );
          }),
      ),
    );
    const final = (await store.get('shared'))!.record;
    expect(final.version).toBe(1 + processes * each);
    expect(new Set(final.broker?.subjects).size).toBe(processes * each);
    await dir.remove();
  }, 120_000);
});
