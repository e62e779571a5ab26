import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreConflictError } from '../../src/errors.js';
import { gcsLayout } from '../../src/gcs/layout.js';
import { writeClusterDocuments } from '../../src/gcs/mirror.js';
import { publishCluster } from '../../src/oidc/published.js';
import { GcsStore } from '../../src/registry/gcs-store.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey, type ClusterKey } from '../support/keys.js';

const at = '2026-11-22T12:00:00.000Z';
const rsa = generateClusterKey('RS256');
const ec = generateClusterKey('ES256');

function record(id: string, keys: ClusterKey[], version = 1): ClusterRecord {
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

describe('GCS store', () => {
  let h: GcsHarness;
  const errors: string[] = [];

  beforeAll(async () => {
    h = await startGcsHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function open(
    options: {
      uniform?: boolean;
      acl?: 'fine-grained' | 'uniform';
      prefix?: string;
      now?: () => number;
    } = {},
  ) {
    const bucket = await h.newBucket({ uniform: options.uniform ?? false });
    const store = new GcsStore({
      // Its own client, as in production: the library keeps retry state per client.
      storage: new Storage({ apiEndpoint: h.gcs.url }),
      bucket,
      prefix: options.prefix ?? 'issuers',
      acl: options.acl ?? 'fine-grained',
      onBackgroundError: (what, err) => errors.push(`${what}: ${String(err)}`),
      ...(options.now ? { now: options.now } : {}),
    });
    return { store, bucket, layout: gcsLayout(bucket, options.prefix ?? 'issuers') };
  }

  it('creates only if absent and compare-and-swaps on the object generation', async () => {
    const { store } = await open();
    const first = await store.put(record('c1', [rsa]), null);
    expect(first.revision).toMatch(/^\d+$/);
    await expect(store.put(record('c1', [rsa]), null)).rejects.toBeInstanceOf(StoreConflictError);
    const second = await store.put(record('c1', [rsa, ec], 2), first.revision);
    await expect(store.put(record('c1', [ec], 3), first.revision)).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    const stored = await store.get('c1');
    expect(stored).toEqual({ record: record('c1', [rsa, ec], 2), revision: second.revision });
    expect(await store.get('nope')).toBeNull();
  });

  it('publishes both documents in the bucket layout with the bytes and headers the issuer routes serve', async () => {
    const { store, bucket, layout } = await open();
    await store.put(record('c1', [rsa, ec]), null);
    const expected = await publishCluster('c1', 'https://issuer.example/c1', [rsa.jwk, ec.jwk]);
    expect(h.gcs.objectNames(bucket)).toEqual(
      [
        layout.record('c1'),
        'issuers/c1/.well-known/openid-configuration',
        'issuers/c1/openid/v1/jwks',
      ].sort(),
    );
    for (const [path, doc] of [
      ['c1/.well-known/openid-configuration', expected.discovery],
      ['c1/openid/v1/jwks', expected.jwks],
    ] as const) {
      // Anonymously, as a verifier reading the bucket URL as an issuer would.
      const res = await fetch(`${h.gcs.url}/${bucket}/issuers/${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(doc.headers['content-type']);
      expect(res.headers.get('cache-control')).toBe(doc.headers['cache-control']);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(doc.body);
    }
    // The record itself is never public.
    expect((await fetch(`${h.gcs.url}/${bucket}/${layout.record('c1')}`)).status).toBe(403);
  });

  it('writes nothing to the documents when a new record implies the same documents', async () => {
    const { store } = await open();
    const first = await store.put(record('c1', [rsa]), null);
    h.gcs.resetStats();
    await store.put(
      { ...record('c1', [rsa], 2), syncSubject: 'system:serviceaccount:ops:sync' },
      first.revision,
    );
    expect(h.gcs.stats().objectWrites).toBe(1);
  });

  it('lists in id order with pages, whatever the object-name order of similar ids', async () => {
    const { store } = await open();
    for (const id of ['b', 'a-b', 'a', 'ab', 'a0']) await store.put(record(id, []), null);
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await store.list({ limit: 2, ...(after ? { after } : {}) });
      expect(page.records.length).toBeLessThanOrEqual(2);
      seen.push(...page.records.map((r) => r.record.id));
      after = page.next;
    } while (after);
    expect(seen).toEqual(['a', 'a-b', 'a0', 'ab', 'b']);
  });

  it('deletes a record with its documents, honouring the revision', async () => {
    const { store, bucket } = await open();
    const stored = await store.put(record('c1', [rsa]), null);
    await expect(store.delete('c1', '1')).rejects.toBeInstanceOf(StoreConflictError);
    expect(await store.delete('c1', stored.revision)).toBe(true);
    expect(h.gcs.objectNames(bucket)).toEqual([]);
    expect(await store.delete('c1')).toBe(false);
  });

  it('works on a uniform bucket without object ACLs, and says what to set when ACLs are refused', async () => {
    const uniform = await open({ uniform: true, acl: 'uniform' });
    await uniform.store.put(record('c1', [rsa]), null);
    expect((await uniform.store.get('c1'))?.record.id).toBe('c1');
    const wrong = await open({ uniform: true, acl: 'fine-grained' });
    await expect(wrong.store.put(record('c1', [rsa]), null)).rejects.toThrow(
      /IDBRIDGE_GCS_OBJECT_ACL=uniform/,
    );
  });

  it("never lets a slower writer put an older record's documents over a newer one's", async () => {
    const { store, bucket, layout } = await open();
    const first = await store.put(record('c1', [rsa]), null);
    const second = await store.put(record('c1', [ec], 2), first.revision);
    // The first writer's document write arrives late.
    const stale = await publishCluster('c1', 'https://issuer.example/c1', [rsa.jwk]);
    const written = await writeClusterDocuments(h.storage.bucket(bucket), layout, stale, {
      owner: 'registry',
      acl: 'fine-grained',
      recordGeneration: first.revision,
    });
    expect(written).toBe(0);
    const served = await (await fetch(`${h.gcs.url}/${bucket}/issuers/c1/openid/v1/jwks`)).json();
    expect(served).toEqual({ keys: [ec.jwk] });
    expect(second.revision > first.revision).toBe(true);
  });

  it('reconciles drifted and missing documents from listings, and deletes only its own orphans once they are old', async () => {
    let now = Date.now();
    const { store, bucket, layout } = await open({ now: () => now });
    await store.put(record('c1', [rsa]), null);
    await store.put(record('c2', [ec]), null);
    const raw = h.storage.bucket(bucket);
    // Drift: a document overwritten by hand, another deleted, and documents left by a deleted record.
    await raw.file(layout.jwks('c1')).save('{"keys":[]}', { resumable: false });
    await raw.file(layout.discovery('c2')).delete();
    const orphan = await publishCluster('gone', 'https://issuer.example/gone', [rsa.jwk]);
    await writeClusterDocuments(raw, layout, orphan, {
      owner: 'registry',
      acl: 'fine-grained',
      recordGeneration: '1',
    });
    const synced = await publishCluster('synced', 'https://issuer.example/synced', [rsa.jwk]);
    await writeClusterDocuments(raw, layout, synced, { owner: 'sync', acl: 'fine-grained' });

    h.gcs.resetStats();
    const report = await store.reconcile();
    expect(report).toEqual({ records: 2, republished: ['c1', 'c2'], orphansDeleted: [] });
    expect(await (await fetch(`${h.gcs.url}/${bucket}/${layout.jwks('c1')}`)).json()).toEqual({
      keys: [rsa.jwk],
    });
    expect((await fetch(`${h.gcs.url}/${bucket}/${layout.discovery('c2')}`)).status).toBe(200);
    // Only the two broken clusters' records were read.
    expect(h.gcs.stats().mediaReads).toBe(2);

    now += 120_000;
    expect(await store.reconcile()).toEqual({
      records: 2,
      republished: [],
      orphansDeleted: ['gone'],
    });
    expect(h.gcs.objectNames(bucket, 'issuers/synced/')).toHaveLength(2);
    h.gcs.resetStats();
    await store.reconcile();
    expect(
      h.gcs.stats().objectWrites + h.gcs.stats().objectDeletes + h.gcs.stats().mediaReads,
    ).toBe(0);
  });

  it('answers success once the record is written even if publishing fails, and repair catches up', async () => {
    const { store, bucket, layout } = await open();
    // Non-retryable refusals of the document writes only.
    h.gcs.fail({
      status: 403,
      count: 1,
      when: ({ method, object }) =>
        method === 'POST' && object !== undefined && !object.includes('.idbridge'),
    });
    const before = errors.length;
    const stored = await store.put(record('c1', [rsa]), null);
    expect(stored.record.id).toBe('c1');
    expect(errors.length).toBe(before + 1);
    expect(errors.at(-1)).toMatch(/publishing the documents of cluster c1/);
    expect(h.gcs.objectNames(bucket, 'issuers/c1/')).toEqual([]);
    await store.repair('c1');
    expect(await (await fetch(`${h.gcs.url}/${bucket}/${layout.jwks('c1')}`)).json()).toEqual({
      keys: [rsa.jwk],
    });
  });

  it("rides out a GCS 503 on a conditional write through the client's retries", async () => {
    const { store } = await open();
    h.gcs.fail({ status: 503, count: 1, when: ({ method }) => method === 'POST' });
    await store.put(record('c1', [rsa]), null);
    expect((await store.get('c1'))?.record.keys).toHaveLength(1);
  });

  it('reports GCS outages as store_unavailable (503) and is not ready while the bucket is unreachable', async () => {
    const dead = new GcsStore({
      storage: new Storage({
        apiEndpoint: 'http://127.0.0.1:9',
        projectId: 'x',
        retryOptions: { autoRetry: false },
      }),
      bucket: 'b',
      prefix: '',
      acl: 'fine-grained',
    });
    await expect(dead.get('c1')).rejects.toMatchObject({ code: 'store_unavailable', status: 503 });
    await expect(dead.ping()).rejects.toMatchObject({ code: 'store_unavailable' });
    const { store } = await open();
    h.gcs.fail({ status: 500, count: 1, when: ({ method }) => method === 'GET' });
    const noRetry = new GcsStore({
      storage: new Storage({
        apiEndpoint: h.gcs.url,
        projectId: 'x',
        retryOptions: { autoRetry: false },
      }),
      bucket: store.layout.bucket,
      prefix: 'issuers',
      acl: 'fine-grained',
    });
    await expect(noRetry.get('c1')).rejects.toMatchObject({
      code: 'store_unavailable',
      message: expect.stringMatching(/HTTP 500/),
    });
  });

  it('refuses a record object that is not a cluster record, saying how to recover', async () => {
    const { store, bucket, layout } = await open();
    await h.storage
      .bucket(bucket)
      .file(layout.record('c1'))
      .save('{"id":"c1"}', { resumable: false });
    await expect(store.get('c1')).rejects.toThrow(
      /not a valid cluster record; restore an earlier generation/,
    );
  });
});
