import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf, type ClusterKey } from '../support/keys.js';
import { startEdgeWorker, type EdgeWorkerHarness } from '../support/edge-worker.js';
import { freePort } from '../support/net.js';
import {
  startScriptedOrigin,
  type OriginFault,
  type ScriptedOrigin,
} from '../support/scripted-origin.js';
import { tempDir } from '../support/serve.js';

const DISCOVERY = '/.well-known/openid-configuration';
const JWKS = '/openid/v1/jwks';

interface Snapshot {
  status: number;
  etag: string | null;
  body: string;
}

async function get(base: string, cluster: string, path: string): Promise<Snapshot> {
  const res = await fetch(`${base}/${cluster}${path}`);
  return { status: res.status, etag: res.headers.get('etag'), body: await res.text() };
}

/** A Worker in workerd in front of a scripted origin, listening on its public URL. */
async function edgeBefore(
  origin: ScriptedOrigin,
  vars: Record<string, string> = {},
  cachePersist?: string,
): Promise<EdgeWorkerHarness & { publicUrl: string }> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const worker = await startEdgeWorker(
    {
      IDBRIDGE_PUBLIC_URL: publicUrl,
      IDBRIDGE_ORIGIN: origin.url,
      IDBRIDGE_EDGE_FRESH_SECONDS: '0',
      IDBRIDGE_ORIGIN_TIMEOUT_MS: '400',
      ...vars,
    },
    { port, ...(cachePersist ? { cachePersist } : {}) },
  );
  return { ...worker, publicUrl };
}

// What a cluster the edge has never served gets while its origin fails this way.
const FAULTS: { fault: OriginFault; neverServed: 404 | 502 }[] = [
  { fault: 'connection-reset', neverServed: 502 },
  { fault: 'slow-headers', neverServed: 502 },
  { fault: 'slow-body', neverServed: 502 },
  { fault: 'status-500', neverServed: 502 },
  { fault: 'status-404', neverServed: 404 },
  { fault: 'status-403', neverServed: 502 },
  { fault: 'redirect', neverServed: 502 },
  { fault: 'truncated-json', neverServed: 502 },
  { fault: 'not-json', neverServed: 502 },
  { fault: 'oversized', neverServed: 502 },
  { fault: 'private-key', neverServed: 502 },
  { fault: 'symmetric-key', neverServed: 502 },
  { fault: 'empty-keys', neverServed: 502 },
  { fault: 'wrong-issuer', neverServed: 502 },
  { fault: 'trailing-slash-issuer', neverServed: 502 },
  { fault: 'other-cluster-issuer', neverServed: 502 },
  { fault: 'discovery-missing', neverServed: 502 },
];

describe('edge Worker in workerd: origin faults', () => {
  let origin: ScriptedOrigin;
  let edge: EdgeWorkerHarness & { publicUrl: string };
  let key: ClusterKey;
  let next: ClusterKey;

  beforeAll(async () => {
    origin = await startScriptedOrigin({ delayMs: 1500 });
    edge = await edgeBefore(origin);
    key = generateClusterKey('RS256');
    next = generateClusterKey('ES256');
  });
  afterAll(async () => {
    await edge?.close();
    await origin?.close();
  });

  it.each(FAULTS.map((entry, i) => ({ ...entry, i })))(
    '$fault: serves the last good copy, never the bad answer; $neverServed without one',
    async ({ fault, neverServed, i }) => {
      const known = `known-${i}`;
      origin.publish(known, jwksOf(key), edge.publicUrl);
      const good = {
        jwks: await get(edge.url, known, JWKS),
        discovery: await get(edge.url, known, DISCOVERY),
      };
      expect(good.jwks.status).toBe(200);
      expect(JSON.parse(good.jwks.body)).toEqual(jwksOf(key));

      origin.fail(known, fault);
      for (let attempt = 0; attempt < 2; attempt++) {
        expect(await get(edge.url, known, JWKS)).toEqual(good.jwks);
        expect(await get(edge.url, known, DISCOVERY)).toEqual(good.discovery);
      }
      expect(
        edge.logs.some(
          (line) =>
            line.includes('origin check failed') &&
            line.includes(`"cluster":"${known}"`) &&
            line.includes('last good copy'),
        ),
      ).toBe(true);

      const never = `never-${i}`;
      origin.publish(never, jwksOf(key), edge.publicUrl);
      origin.fail(never, fault);
      const refused = await fetch(`${edge.url}/${never}${JWKS}`);
      expect(refused.status).toBe(neverServed);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await refused.json()) as {
        error: { code: string; message: string };
        keys?: unknown;
      };
      expect(body.keys).toBeUndefined();
      expect(body.error.code).toBe(neverServed === 404 ? 'cluster_not_found' : 'bad_gateway');

      // The origin recovers with a rotated key set: the edge follows at once (fresh TTL 0).
      origin.fail(known, null);
      origin.publish(known, jwksOf(key, next), edge.publicUrl);
      const recovered = await get(edge.url, known, JWKS);
      expect(JSON.parse(recovered.body)).toEqual(jwksOf(key, next));
      expect(recovered.etag).not.toBe(good.jwks.etag);
    },
  );

  it('revalidates with the origin by ETag: the origin answers 304 and the edge still serves the document', async () => {
    origin.publish('etag', jwksOf(key), edge.publicUrl);
    const first = await get(edge.url, 'etag', JWKS);
    const second = await get(edge.url, 'etag', JWKS);
    expect(second).toEqual(first);
    const seen = origin.requests.filter((r) => r.path === `/etag${JWKS}`);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[0]).toMatchObject({ ifNoneMatch: undefined, status: 200 });
    expect(seen.at(-1)!.ifNoneMatch).toMatch(/^"/);
    expect(seen.at(-1)!.status).toBe(304);
  });

  it("republishes under the Worker's own URL when the origin names its own", async () => {
    origin.publish('own-url', jwksOf(key), origin.url);
    const discovery = JSON.parse((await get(edge.url, 'own-url', DISCOVERY)).body) as {
      issuer: string;
      jwks_uri: string;
    };
    expect(discovery.issuer).toBe(`${edge.publicUrl}/own-url`);
    expect(discovery.jwks_uri).toBe(`${edge.publicUrl}/own-url${JWKS}`);
  });
});

describe('edge Worker in workerd: stale limit', () => {
  it('stops serving a stale copy once it is older than IDBRIDGE_EDGE_MAX_STALE_SECONDS (502, or 404 if the origin says the cluster is gone)', async () => {
    const origin = await startScriptedOrigin({ delayMs: 0 });
    const edge = await edgeBefore(origin, { IDBRIDGE_EDGE_MAX_STALE_SECONDS: '1' });
    try {
      const key = generateClusterKey('ES256');
      for (const id of ['failing', 'deleted']) origin.publish(id, jwksOf(key), edge.publicUrl);
      for (const id of ['failing', 'deleted'])
        expect((await get(edge.url, id, JWKS)).status).toBe(200);
      origin.fail('failing', 'status-500');
      origin.fail('deleted', 'status-404');
      for (const id of ['failing', 'deleted'])
        expect((await get(edge.url, id, JWKS)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1300));
      expect((await get(edge.url, 'failing', JWKS)).status).toBe(502);
      expect((await get(edge.url, 'deleted', JWKS)).status).toBe(404);
    } finally {
      await edge.close();
      await origin.close();
    }
  });
});

describe('edge Worker in workerd: Cache API', () => {
  it('a new isolate serves the copy another isolate cached while the origin is down (nothing listening)', async () => {
    const cache = await tempDir('idbridge-edge-cache-');
    const origin = await startScriptedOrigin({ delayMs: 0 });
    const key = generateClusterKey('RS256');
    let second: EdgeWorkerHarness | undefined;
    try {
      const first = await edgeBefore(origin, {}, cache.path);
      origin.publish('cached', jwksOf(key), first.publicUrl);
      const good = await get(first.url, 'cached', JWKS);
      expect(good.status).toBe(200);
      await first.close();
      await origin.close();

      // A new workerd process: a fresh isolate whose only way to the copy is the Cache API
      // (keyed under the public URL, so it keeps the first one's).
      const isolate = await startEdgeWorker(
        {
          IDBRIDGE_PUBLIC_URL: first.publicUrl,
          IDBRIDGE_ORIGIN: origin.url,
          IDBRIDGE_EDGE_FRESH_SECONDS: '0',
          IDBRIDGE_ORIGIN_TIMEOUT_MS: '400',
        },
        { cachePersist: cache.path },
      );
      second = isolate;
      expect(await get(isolate.url, 'cached', JWKS)).toEqual(good);
      expect((await get(isolate.url, 'uncached', JWKS)).status).toBe(502);
      expect(
        isolate.logs.some(
          (line) => line.includes('origin check failed') && line.includes('unreachable'),
        ),
      ).toBe(true);
    } finally {
      await second?.close();
      await cache.remove();
    }
  });
});
