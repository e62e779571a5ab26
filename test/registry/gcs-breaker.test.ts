import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcsStore } from '../../src/registry/gcs-store.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { startServe, type ServeHarness } from '../support/serve.js';

const at = '2026-11-22T12:00:00.000Z';
const record = (id: string): ClusterRecord => ({
  id,
  issuer: `https://issuer.example/${id}`,
  syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
  keys: [{ jwk: generateClusterKey('ES256').jwk, firstSeen: at, lastSeen: at }],
  keyEvents: [],
  createdAt: at,
  updatedAt: at,
  version: 1,
});

/** The GCS store's own timeout and fail-fast period while Cloud Storage is down. */
describe('GCS store: bounded calls and fail-fast during an outage', () => {
  let h: GcsHarness;
  beforeAll(async () => {
    h = await startGcsHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  // The test timeout (30 s) is far above the store's 2 s (room for a fresh client's first call under
  // load): a wait for a hanging request, or for the client's own backoff, fails it.
  async function open(clock: { now: number }) {
    const bucket = await h.newBucket();
    // No client retries: every store call is exactly one request to count.
    const storage = new Storage({
      apiEndpoint: h.gcs.url,
      projectId: 'x',
      retryOptions: { autoRetry: false },
    });
    return new GcsStore({
      storage,
      bucket,
      prefix: 'issuers',
      acl: 'fine-grained',
      timeoutMs: 2_000,
      failFastMs: 10_000,
      now: () => clock.now,
    });
  }

  it('abandons a hanging call after its timeout, then answers 503 at once without asking GCS until the probe', async () => {
    const clock = { now: 1_000_000 };
    const store = await open(clock);
    await store.put(record('c1'), null);

    h.gcs.hang({ count: 1 });
    await expect(store.get('c1')).rejects.toMatchObject({
      code: 'store_unavailable',
      status: 503,
      message: expect.stringMatching(/did not answer within 2000 ms/),
    });

    // GCS is healthy again, but the store does not know it yet: nothing reaches it while failing fast.
    const before = h.gcs.stats().requests;
    for (const call of [
      () => store.get('c1'),
      () => store.ping(),
      () => store.list({ limit: 10 }),
      () => store.put(record('c2'), null),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: 'store_unavailable',
        retryAfterSeconds: 10,
        message: expect.stringMatching(/not asking it again for 10 s/),
      });
    }
    expect(h.gcs.stats().requests - before).toBe(0);

    clock.now += 10_001;
    expect((await store.get('c1'))?.record.id).toBe('c1'); // the probe, and the breaker closes
    expect(h.gcs.stats().requests - before).toBe(1);
    await store.ping();
  });

  it('opens again when the probe fails, and only the probe reaches GCS', async () => {
    const clock = { now: 2_000_000 };
    const store = await open(clock);
    await store.put(record('c1'), null);
    h.gcs.fail({ status: 503, count: 2 });
    await expect(store.get('c1')).rejects.toMatchObject({
      code: 'store_unavailable',
      message: expect.stringMatching(/HTTP 503/),
    });
    clock.now += 10_001;
    const before = h.gcs.stats().requests;
    const outcomes = await Promise.allSettled([store.get('c1'), store.get('c1'), store.ping()]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(h.gcs.stats().requests - before).toBe(1);
    await expect(store.get('c1')).rejects.toMatchObject({ retryAfterSeconds: 10 });
    expect(h.gcs.stats().requests - before).toBe(1);
  });

  it('a refusal (404, 412, 403) is an answer: it does not open the breaker', async () => {
    const clock = { now: 3_000_000 };
    const store = await open(clock);
    expect(await store.get('absent')).toBeNull();
    h.gcs.fail({ status: 403, count: 1 });
    await expect(store.get('c1')).rejects.toMatchObject({
      message: expect.stringMatching(/roles\/storage.objectAdmin/),
    });
    const before = h.gcs.stats().requests;
    await store.put(record('c1'), null);
    expect(h.gcs.stats().requests - before).toBeGreaterThan(0);
  });
});

describe('idbridge serve on GCS while Cloud Storage hangs', () => {
  let h: GcsHarness;
  let serve: ServeHarness;
  beforeAll(async () => {
    h = await startGcsHarness();
    const bucket = await h.newBucket();
    // A fail-fast period far beyond this test's length: every 503 after the first is the breaker's.
    // The timeout leaves room for the client's slow first call (project and credential discovery)
    // and is still far below the test timeout.
    serve = await startServe({
      IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
      IDBRIDGE_GCS_ENDPOINT: h.gcs.url,
      IDBRIDGE_GCS_TIMEOUT_MS: '4000',
      IDBRIDGE_GCS_FAIL_FAST_MS: '60000',
    });
  });
  afterAll(async () => {
    await serve?.close();
    await h?.close();
  });

  it('answers /readyz and uncached requests 503 store_unavailable with Retry-After, and keeps serving what it has', async () => {
    const created = await fetch(`${serve.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${serve.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(generateClusterKey()) }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const good = await fetch(`${serve.url}/c1/openid/v1/jwks`);
    expect(good.status).toBe(200);
    const goodBody = await good.text();

    h.gcs.hang({ count: 1_000 });
    const first = await fetch(`${serve.url}/readyz`);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(
      ((await first.json()) as { error: { code: string; message: string } }).error,
    ).toMatchObject({
      code: 'store_unavailable',
      message: expect.stringMatching(/did not answer within 4000 ms/),
    });

    const again = await fetch(`${serve.url}/readyz`);
    expect(again.status).toBe(503);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(((await again.json()) as { error: { message: string } }).error.message).toMatch(
      /not asking it again/,
    );

    const uncached = await fetch(`${serve.url}/c2/openid/v1/jwks`);
    expect(uncached.status).toBe(503);
    expect(uncached.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await uncached.json()) as { error: { code: string } }).error.code).toBe(
      'store_unavailable',
    );

    const write = await fetch(`${serve.url}/api/v1/clusters/c1`, {
      headers: { authorization: `Bearer ${serve.adminToken}` },
    });
    expect(write.status).toBe(503);
    expect(write.headers.get('retry-after')).toMatch(/^\d+$/);

    // The last good copy of a record it already had keeps being served.
    const cached = await fetch(`${serve.url}/c1/openid/v1/jwks`);
    expect(cached.status).toBe(200);
    expect(await cached.text()).toBe(goodBody);
  });
});
