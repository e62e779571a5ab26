import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreConflictError } from '../../src/errors.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import type { ClusterStore } from '../../src/registry/store.js';
import { generateClusterKey } from '../support/keys.js';

/** A fresh, empty store of one kind, and how to dispose of it. */
export interface StoreUnderTest {
  store: ClusterStore;
  done(): Promise<void>;
}

const at = '2026-11-22T12:00:00.000Z';
const rsa = generateClusterKey('RS256');
const ec = generateClusterKey('ES256');

function record(id: string, version = 1, keys = [rsa]): ClusterRecord {
  return {
    id,
    issuer: `https://issuer.example/${id}`,
    syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
    keys: keys.map((k) => ({ jwk: k.jwk, firstSeen: at, lastSeen: at })),
    keyEvents: [],
    createdAt: at,
    updatedAt: at,
    version,
  };
}

/**
 * What every ClusterStore promises (src/registry/store.ts), run on each store: memory, file and
 * GCS (against the fake that speaks the JSON API). Taken from the per-store tests, so a store
 * added later is held to the same contract.
 */
export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`the ${name} store keeps the store contract`, () => {
    const opened: StoreUnderTest[] = [];
    async function fresh(): Promise<ClusterStore> {
      const subject = await open();
      opened.push(subject);
      return subject.store;
    }
    beforeAll(() => {
      opened.length = 0;
    });
    afterAll(async () => {
      await Promise.all(opened.map((subject) => subject.done()));
    });

    it('answers null for a record it does not hold', async () => {
      const store = await fresh();
      expect(await store.get('nope')).toBeNull();
    });

    it('creates only if absent and reads back what was written with its revision', async () => {
      const store = await fresh();
      const created = await store.put(record('c1'), null);
      expect(created.record).toEqual(record('c1'));
      expect(typeof created.revision).toBe('string');
      expect(await store.get('c1')).toEqual({ record: record('c1'), revision: created.revision });
      await expect(store.put(record('c1'), null)).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.get('c1')).toEqual({ record: record('c1'), revision: created.revision });
    });

    it('makes put a compare-and-swap on the revision: a stale one is a conflict and changes nothing', async () => {
      const store = await fresh();
      const first = await store.put(record('c1'), null);
      const second = await store.put(record('c1', 2, [rsa, ec]), first.revision);
      expect(second.revision).not.toBe(first.revision);
      await expect(store.put(record('c1', 3, [ec]), first.revision)).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect(await store.get('c1')).toEqual({
        record: record('c1', 2, [rsa, ec]),
        revision: second.revision,
      });
    });

    it('deletes honouring the revision, and says whether there was anything to delete', async () => {
      const store = await fresh();
      const first = await store.put(record('c1'), null);
      const second = await store.put(record('c1', 2), first.revision);
      await expect(store.delete('c1', first.revision)).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.get('c1')).toEqual({ record: record('c1', 2), revision: second.revision });
      expect(await store.delete('c1', second.revision)).toBe(true);
      expect(await store.get('c1')).toBeNull();
      expect(await store.delete('c1')).toBe(false);
      // Gone means absent: it can be created again.
      expect((await store.put(record('c1'), null)).record.id).toBe('c1');
    });

    it('lists in id order across pages, whatever the order of writes and of similar ids', async () => {
      const store = await fresh();
      expect(await store.list({ limit: 10 })).toEqual({ records: [] });
      for (const id of ['b', 'a-b', 'a', 'ab', 'a0']) await store.put(record(id), null);
      const pages: string[][] = [];
      let after: string | undefined;
      do {
        const page = await store.list({ limit: 2, ...(after !== undefined ? { after } : {}) });
        pages.push(page.records.map((stored) => stored.record.id));
        after = page.next;
      } while (after !== undefined);
      expect(pages).toEqual([['a', 'a-b'], ['a0', 'ab'], ['b']]);
      const all = await store.list({ limit: 10 });
      expect(all.next).toBeUndefined();
      for (const stored of all.records) expect(await store.get(stored.record.id)).toEqual(stored);
      expect(
        (await store.list({ after: 'ab', limit: 10 })).records.map((stored) => stored.record.id),
      ).toEqual(['b']);
    });

    it('hands out copies: changing a record read back changes nothing stored', async () => {
      const store = await fresh();
      const created = await store.put(record('c1'), null);
      const read = (await store.get('c1'))!;
      read.record.keys.length = 0;
      created.record.syncSubject = 'changed';
      expect(await store.get('c1')).toEqual({ record: record('c1'), revision: created.revision });
    });

    it('keeps private records by name with compare-and-swap, apart from cluster records', async () => {
      const store = await fresh();
      expect(await store.getPrivate('fleet-keys')).toBeNull();
      const first = await store.putPrivate('fleet-keys', '{"v":1}', null);
      expect(await store.getPrivate('fleet-keys')).toEqual(first);
      await expect(store.putPrivate('fleet-keys', '{"v":2}', null)).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      const second = await store.putPrivate('fleet-keys', '{"v":2}', first.revision);
      expect(second.revision).not.toBe(first.revision);
      await expect(
        store.putPrivate('fleet-keys', '{"v":3}', first.revision),
      ).rejects.toBeInstanceOf(StoreConflictError);
      expect((await store.getPrivate('fleet-keys'))?.value).toBe('{"v":2}');
      // Never listed nor read as a cluster.
      expect((await store.list({ limit: 10 })).records).toEqual([]);
      await expect(store.getPrivate('../clusters/c1')).rejects.toThrow(/private record name/);
    });

    it('is ready while it can serve', async () => {
      const store = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
