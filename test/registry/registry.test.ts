import { describe, expect, it } from 'vitest';
import { validateJwks } from '../../src/oidc/jwks.js';
import { FileStore } from '../../src/registry/file-store.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { ClusterRegistry } from '../../src/registry/registry.js';
import type { ClusterStore } from '../../src/registry/store.js';
import { StoreConflictError } from '../../src/errors.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { tempDir } from '../support/serve.js';

const stores: Array<[string, () => Promise<{ store: ClusterStore; done(): Promise<void> }>]> = [
  ['memory', async () => ({ store: new MemoryStore(), done: async () => {} })],
  [
    'file',
    async () => {
      const dir = await tempDir();
      return { store: await FileStore.open(dir.path), done: dir.remove };
    },
  ],
];

describe.each(stores)('ClusterRegistry on the %s store', (_name, open) => {
  it('never loses an update when many writers race on one record', async () => {
    const { store, done } = await open();
    const registry = new ClusterRegistry(store, { publicUrl: 'https://issuer.example' });
    await registry.create({ id: 'race', syncSubject: 'system:serviceaccount:a:b' });
    const writers = 25;
    // Each writer appends its own subject pattern; a lost update would drop one.
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        registry.mutate('race', (current) => ({
          ...current,
          broker: {
            subjects: [...(current.broker?.subjects ?? []), `system:serviceaccount:w:${i}`],
          },
        })),
      ),
    );
    const record = await registry.get('race');
    expect(record.version).toBe(writers + 1);
    expect(new Set(record.broker?.subjects).size).toBe(writers);
    await done();
  });

  it('makes put a compare-and-swap: a stale revision is refused', async () => {
    const { store, done } = await open();
    const registry = new ClusterRegistry(store, { publicUrl: 'https://issuer.example' });
    await registry.create({ id: 'cas', syncSubject: 'system:serviceaccount:a:b' });
    const stored = (await store.get('cas'))!;
    await store.put({ ...stored.record, version: 2 }, stored.revision);
    await expect(
      store.put({ ...stored.record, version: 3 }, stored.revision),
    ).rejects.toBeInstanceOf(StoreConflictError);
    await expect(store.put({ ...stored.record, version: 9 }, null)).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    await expect(store.delete('cas', stored.revision)).rejects.toBeInstanceOf(StoreConflictError);
    expect((await store.get('cas'))!.record.version).toBe(2);
    await done();
  });

  it('records key history and writes nothing when keys did not change', async () => {
    const { store, done } = await open();
    const times = [
      '2026-01-01T00:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
      '2026-01-03T00:00:00.000Z',
      '2026-01-04T00:00:00.000Z',
    ];
    let tick = 0;
    const registry = new ClusterRegistry(store, {
      publicUrl: 'https://issuer.example',
      now: () => new Date(times[Math.min(tick, times.length - 1)]!),
    });
    const [k1, k2] = [generateClusterKey(), generateClusterKey('ES256')];
    await registry.create({
      id: 'hist',
      syncSubject: 'system:serviceaccount:a:b',
      jwks: await validateJwks(jwksOf(k1)),
    });
    tick = 1;
    const added = await registry.replaceKeys('hist', await validateJwks(jwksOf(k1, k2)), 'sync');
    expect(added).toMatchObject({ added: [k2.kid], removed: [], changed: true });
    tick = 2;
    const same = await registry.replaceKeys('hist', await validateJwks(jwksOf(k2, k1)), 'sync');
    expect(same.changed).toBe(false);
    expect(same.record.version).toBe(added.record.version);
    tick = 3;
    const removed = await registry.replaceKeys('hist', await validateJwks(jwksOf(k2)), 'admin');
    expect(removed.record.keyEvents.map((e) => [e.source, e.added, e.removed, e.at])).toEqual([
      ['registration', [k1.kid], [], times[0]],
      ['sync', [k2.kid], [], times[1]],
      ['admin', [], [k1.kid], times[3]],
    ]);
    expect(removed.record.keys).toEqual([{ jwk: k2.jwk, firstSeen: times[1], lastSeen: times[3] }]);
    await done();
  });

  it('lists in id order across pages', async () => {
    const { store, done } = await open();
    const registry = new ClusterRegistry(store, { publicUrl: 'https://issuer.example' });
    const ids = ['b', 'a', 'd', 'c', 'e'];
    for (const id of ids) await registry.create({ id, syncSubject: 'system:serviceaccount:a:b' });
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await registry.list({ limit: 2, ...(after ? { after } : {}) });
      seen.push(...page.records.map((r) => r.record.id));
      after = page.next;
    } while (after);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    await done();
  });
});
