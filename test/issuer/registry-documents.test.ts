import { describe, expect, it, vi } from 'vitest';
import { RegistryDocuments } from '../../src/issuer/registry-documents.js';
import { validateJwks } from '../../src/oidc/jwks.js';
import { FileStore } from '../../src/registry/file-store.js';
import { clusterRecords } from '../../src/registry/record-cache.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { tempDir } from '../support/serve.js';
import { ClusterRegistry } from '../../src/registry/registry.js';
import type { ClusterStore } from '../../src/registry/store.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

/** A store that counts reads and can be made to fail, to observe the cache from outside. */
class CountingStore extends MemoryStore {
  reads = 0;
  failing = false;
  override async get(id: string) {
    this.reads++;
    if (this.failing) throw new Error('store down');
    return super.get(id);
  }
}

async function setup() {
  const store = new CountingStore();
  let clock = 1_000_000;
  const registry = new ClusterRegistry(store as ClusterStore, {
    publicUrl: 'https://issuer.example',
  });
  const errors: string[] = [];
  const records = clusterRecords(store, {
    now: () => clock,
    revalidateAfterMs: 1000,
    maxStaleMs: 60_000,
    maxEntries: 3,
    onRefreshError: (c) => errors.push(c),
  });
  const docs = new RegistryDocuments(records);
  registry.onChange((id) => docs.invalidate(id));
  const key = generateClusterKey();
  await registry.create({
    id: 'c1',
    syncSubject: 'system:serviceaccount:a:b',
    jwks: await validateJwks(jwksOf(key)),
  });
  return {
    store,
    registry,
    records,
    docs,
    errors,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('RegistryDocuments', () => {
  it('reads the store once for many concurrent cold requests', async () => {
    const { store, docs } = await setup();
    store.reads = 0;
    const results = await Promise.all(Array.from({ length: 50 }, () => docs.documents('c1')));
    expect(store.reads).toBe(1);
    expect(new Set(results.map((r) => r?.jwks.etag)).size).toBe(1);
  });

  it('serves from memory until revalidation is due, then refreshes in the background', async () => {
    const { store, docs, advance } = await setup();
    await docs.documents('c1');
    store.reads = 0;
    for (let i = 0; i < 100; i++) expect(docs.peek('c1')).toBeDefined();
    expect(store.reads).toBe(0);
    advance(1500);
    expect(docs.peek('c1')).toBeDefined();
    await vi.waitFor(() => expect(store.reads).toBe(1));
  });

  it('sees a write by another process after revalidation', async () => {
    const { store, docs, advance } = await setup();
    const before = (await docs.documents('c1'))!.jwks.etag;
    // A second registry on the same store, not wired to this cache: like another process.
    const other = new ClusterRegistry(store, { publicUrl: 'https://issuer.example' });
    await other.replaceKeys('c1', await validateJwks(jwksOf(generateClusterKey())), 'admin');
    expect((await docs.documents('c1'))!.jwks.etag).toBe(before);
    advance(1500);
    expect((await docs.documents('c1'))!.jwks.etag).toBe(before); // stale copy, refresh started
    await vi.waitFor(async () => expect((await docs.documents('c1'))!.jwks.etag).not.toBe(before));
  });

  it('invalidates at once on its own writes', async () => {
    const { registry, docs } = await setup();
    const before = (await docs.documents('c1'))!.jwks.etag;
    await registry.replaceKeys('c1', await validateJwks(jwksOf(generateClusterKey())), 'admin');
    expect(docs.peek('c1')).toBeUndefined();
    expect((await docs.documents('c1'))!.jwks.etag).not.toBe(before);
  });

  it('keeps serving the last good documents while the store fails, and reports it', async () => {
    const { store, docs, errors, advance } = await setup();
    const good = await docs.documents('c1');
    store.failing = true;
    advance(1500);
    expect(await docs.documents('c1')).toBe(good);
    await vi.waitFor(() => expect(errors).toEqual(['c1']));
    advance(70_000);
    await expect(docs.documents('c1')).rejects.toThrow(/store down/);
  });

  it('answers null for unknown, keyless and invalid clusters without growing unbounded', async () => {
    const { store, registry, records, docs } = await setup();
    await registry.create({ id: 'keyless', syncSubject: 'system:serviceaccount:a:b' });
    expect(await docs.documents('keyless')).toBeNull();
    expect(await docs.documents('nope')).toBeNull();
    store.reads = 0;
    expect(await docs.documents('../etc')).toBeNull();
    expect(await docs.documents('UPPER')).toBeNull();
    expect(store.reads).toBe(0);
    for (let i = 0; i < 10; i++) await docs.documents(`ghost-${i}`);
    expect(records.size).toBeLessThanOrEqual(3);
  });

  it('drops an entry as soon as another process rewrites the record in a watched file store', async () => {
    const dir = await tempDir();
    const reader = await FileStore.open(dir.path);
    const writer = new ClusterRegistry(await FileStore.open(dir.path), {
      publicUrl: 'https://issuer.example',
    });
    // A clock that never moves: only the watch can make the cache notice the write.
    const records = clusterRecords(reader, { now: () => 0 });
    const docs = new RegistryDocuments(records);
    await writer.create({
      id: 'w1',
      syncSubject: 'system:serviceaccount:a:b',
      jwks: await validateJwks(jwksOf(generateClusterKey())),
    });
    const before = (await docs.documents('w1'))!.jwks.etag;
    await writer.replaceKeys('w1', await validateJwks(jwksOf(generateClusterKey())), 'admin');
    await vi.waitFor(async () => expect((await docs.documents('w1'))!.jwks.etag).not.toBe(before));
    records.close();
    await dir.remove();
  });
});
