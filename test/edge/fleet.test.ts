import { request } from 'node:http';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WithFleetDocuments } from '../../src/fleet/documents.js';
import { LocalFleetKeys } from '../../src/fleet/local-keys.js';
import { issuerRoutes } from '../../src/issuer/routes.js';
import { createLogger } from '../../src/log/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { startEdgeWorker, type EdgeWorkerHarness } from '../support/edge-worker.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { freePort, serveOnLoopback } from '../support/net.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { startFleetStack, type FleetStack } from '../fleet/stack.js';

const DISCOVERY = '/_fleet/.well-known/openid-configuration';
const JWKS = '/_fleet/openid/v1/jwks';
/**
 * The headers of the issuer documents' contract, on serve and on the edge (workerd may send a GET
 * chunked: its length is checked on HEAD, as the issuer contract does, and its bytes are compared).
 */
const CONTRACT_HEADERS = [
  'content-type',
  'cache-control',
  'etag',
  'access-control-allow-origin',
  'x-content-type-options',
];

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with the path sent byte for byte (fetch would normalize `..` and `%2F` first). */
function raw(base: string, path: string, method = 'GET'): Promise<Raw> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method, headers: { connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function snapshot(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const headers = Object.fromEntries(CONTRACT_HEADERS.map((name) => [name, res.headers.get(name)]));
  return { status: res.status, headers, body: await res.text() };
}

async function startEdge(
  origin: string,
  vars: Record<string, string> = {},
  port?: number,
): Promise<EdgeWorkerHarness & { publicUrl: string }> {
  const listen = port ?? (await freePort());
  const publicUrl = `http://127.0.0.1:${listen}`;
  const worker = await startEdgeWorker(
    {
      IDBRIDGE_PUBLIC_URL: publicUrl,
      IDBRIDGE_ORIGIN: origin,
      IDBRIDGE_EDGE_FRESH_SECONDS: '0',
      IDBRIDGE_ORIGIN_TIMEOUT_MS: '2000',
      ...vars,
    },
    { port: listen },
  );
  return { ...worker, publicUrl };
}

/**
 * The fleet issuer behind the edge: idbridge serve in fleet mode is the origin, its public URL is
 * the edge's, and the fake Google fetches the fleet issuer's documents from the edge over HTTP.
 */
describe('edge Worker in workerd: the fleet issuer from an idbridge serve origin', () => {
  let stack: FleetStack;
  let edge: EdgeWorkerHarness & { publicUrl: string };
  beforeAll(async () => {
    const port = await freePort();
    stack = await startFleetStack({ IDBRIDGE_PUBLIC_URL: `http://127.0.0.1:${port}` });
    edge = await startEdge(stack.serve.url, {}, port);
    await stack.register('a');
  });
  afterAll(async () => {
    await edge?.close();
    await stack?.close();
  });

  it('serves both fleet documents with the same bytes and headers as the origin', async () => {
    for (const path of [DISCOVERY, JWKS]) {
      const atOrigin = await snapshot(`${stack.serve.url}${path}`);
      const atEdge = await snapshot(`${edge.url}${path}`);
      expect(atOrigin.status).toBe(200);
      expect(atEdge).toEqual(atOrigin);
      const head = await fetch(`${edge.url}${path}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('etag')).toBe(atOrigin.headers.etag);
      expect(Number(head.headers.get('content-length'))).toBe(
        new TextEncoder().encode(atOrigin.body).byteLength,
      );
      expect(await head.text()).toBe('');
      const again = await fetch(`${edge.url}${path}`, {
        headers: { 'if-none-match': atOrigin.headers.etag! },
      });
      expect(again.status).toBe(304);
    }
    const discovery = JSON.parse((await snapshot(`${edge.url}${DISCOVERY}`)).body) as {
      issuer: string;
      jwks_uri: string;
    };
    expect(discovery).toMatchObject({
      issuer: `${edge.publicUrl}/_fleet`,
      jwks_uri: `${edge.publicUrl}${JWKS}`,
    });
  });

  it('a token the broker minted validates at the fake Google through the edge', async () => {
    const before = edge.logs.length;
    const res = await stack.exchange(await stack.token('a'));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { access_token: string }).access_token).toMatch(/^ya29\.fed\./);
    expect(stack.google.assertions.at(-1)).toMatchObject({
      iss: `${edge.publicUrl}/_fleet`,
      sub: 'a:apps:web',
      cluster: 'a',
    });
    // Nothing failed at the edge on the way (the fake Google read the documents there).
    expect(edge.logs.slice(before).filter((line) => line.includes('"level":"warn"'))).toEqual([]);
  });

  // Paths a host must decide the same way on the origin and on the edge (one issuer descriptor).
  it.each([
    '/%5Ffleet/openid/v1/jwks',
    '/%5ffleet/.well-known/openid-configuration',
    `${JWKS}?cache=bust`,
    `${DISCOVERY}/extra`,
    '/_fleet/.well-known%2Fopenid-configuration',
    '/_FLEET/openid/v1/jwks',
  ])('answers %s as the origin does', async (path) => {
    const [atOrigin, atEdge] = await Promise.all([raw(stack.serve.url, path), raw(edge.url, path)]);
    expect(atEdge.status).toBe(atOrigin.status);
    expect(atEdge.headers['content-type']).toBe(atOrigin.headers['content-type']);
    if (atOrigin.status === 200) expect(atEdge.body).toBe(atOrigin.body);
    else
      expect((JSON.parse(atEdge.body) as { error: { code: string } }).error.code).toBe(
        (JSON.parse(atOrigin.body) as { error: { code: string } }).error.code,
      );
  });

  it('lists the fleet issuer on its status page once served', async () => {
    const page = await fetch(`${edge.url}/_fleet`);
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain(`${edge.publicUrl}/_fleet`);
    expect(text).toContain('serving');
  });

  // Every one of these gets a 4xx in the edge's own shapes: idbridge's JSON error, or the status
  // page's HTML 404 for a single segment; none reaches the origin's private paths or a 5xx.
  const HOSTILE: { name: string; path: string; method?: string; status: number; json: boolean }[] =
    [
      { name: 'dot-dot out of /_fleet', path: '/_fleet/../x', status: 404, json: false },
      {
        name: 'dot-dot to a private record',
        path: '/_fleet/../.idbridge/private/fleet-keys',
        status: 404,
        json: true,
      },
      { name: 'encoded dot-dot', path: '/_fleet/%2e%2e/openid/v1/jwks', status: 404, json: true },
      {
        name: 'a segment after the discovery document',
        path: `${DISCOVERY}/extra`,
        status: 404,
        json: true,
      },
      { name: 'a trailing slash', path: `${JWKS}/`, status: 404, json: true },
      {
        name: 'encoded slashes in the document path',
        path: '/_fleet/.well-known%2Fopenid-configuration',
        status: 404,
        json: true,
      },
      {
        name: 'the whole path as one encoded segment',
        path: '/_fleet%2Fopenid%2Fv1%2Fjwks',
        status: 404,
        json: false,
      },
      { name: 'upper case', path: '/_FLEET/openid/v1/jwks', status: 404, json: true },
      { name: 'another underscore name', path: '/_fleet2/openid/v1/jwks', status: 404, json: true },
      {
        name: 'a very long path',
        path: `/_fleet/${'a'.repeat(8000)}/openid/v1/jwks`,
        status: 404,
        json: true,
      },
      { name: 'POST', path: JWKS, method: 'POST', status: 405, json: true },
      { name: 'PUT', path: DISCOVERY, method: 'PUT', status: 405, json: true },
      { name: 'DELETE', path: DISCOVERY, method: 'DELETE', status: 405, json: true },
    ];
  it.each(HOSTILE)('refuses $name with its own 4xx', async ({ path, method, status, json }) => {
    const res = await raw(edge.url, path, method);
    expect(res.status).toBe(status);
    if (json) {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      expect(body.error.code).toMatch(/^(not_found|cluster_not_found|method_not_allowed)$/);
      expect(body.error.message.length).toBeLessThan(1000);
    } else {
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-store');
    }
    if (status === 405) expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(res.body).not.toMatch(/"d":|privateKey|BEGIN/);
  });
});

/**
 * Rotation and origin failures, against an origin whose fleet keys turn on an injected clock
 * (the same issuer routes and fleet documents serve runs) and against a scripted origin.
 */
describe('edge Worker in workerd: fleet key rotation and origin faults', () => {
  let clock = Date.UTC(2026, 11, 1, 12) as number;
  let origin: { url: string; close(): Promise<void> };
  let edge: EdgeWorkerHarness & { publicUrl: string };
  let keys: LocalFleetKeys;
  beforeAll(async () => {
    const port = await freePort();
    const logger = createLogger(() => {});
    keys = new LocalFleetKeys({
      store: new MemoryStore(),
      issuer: `http://127.0.0.1:${port}/_fleet`,
      rotation: { rotationSeconds: 3600, leadSeconds: 600, retainSeconds: 600 },
      now: () => clock,
      logger,
    });
    const source = new WithFleetDocuments({ documents: async () => null }, keys);
    const app = new Hono();
    app.all('*', (c) => issuerRoutes(source, logger).fetch(c.req.raw));
    origin = await serveOnLoopback(app);
    // The documented rule under test: a changed JWKS reaches the edge within the fresh TTL.
    edge = await startEdge(origin.url, { IDBRIDGE_EDGE_FRESH_SECONDS: '1' }, port);
  });
  afterAll(async () => {
    await edge?.close();
    await origin?.close();
  });

  const kids = async (base: string) =>
    ((await (await fetch(`${base}${JWKS}`)).json()) as { keys: { kid: string }[] }).keys
      .map((key) => key.kid)
      .sort();

  it('a rotation on the origin reaches the edge within the fresh TTL', async () => {
    await keys.documents(); // the first key, made on first use
    const first = await kids(origin.url);
    expect(first).toHaveLength(1);
    expect(await kids(edge.url)).toEqual(first);
    // Into the lead time: the origin publishes the next key beside the current one.
    clock += (3600 - 600 + 60) * 1000;
    await keys.documents();
    let rotated = await kids(origin.url);
    for (let i = 0; rotated.length < 2 && i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rotated = await kids(origin.url);
    }
    expect(rotated).toHaveLength(2);
    expect(rotated).toEqual(expect.arrayContaining(first));
    let atEdge = await kids(edge.url);
    for (let i = 0; JSON.stringify(atEdge) !== JSON.stringify(rotated) && i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      atEdge = await kids(edge.url);
    }
    expect(atEdge).toEqual(rotated);
    const [byEdge, byOrigin] = await Promise.all(
      [edge.url, origin.url].map((base) => snapshot(`${base}${JWKS}`)),
    );
    expect(byEdge).toEqual(byOrigin);
  });
});

describe('edge Worker in workerd: the fleet issuer while its origin fails', () => {
  let origin: ScriptedOrigin;
  let edge: EdgeWorkerHarness & { publicUrl: string };
  const key = generateClusterKey('ES256');
  beforeAll(async () => {
    origin = await startScriptedOrigin({ delayMs: 1500 });
    const port = await freePort();
    origin.publish('_fleet', jwksOf(key), `http://127.0.0.1:${port}`);
    edge = await startEdge(origin.url, { IDBRIDGE_ORIGIN_TIMEOUT_MS: '400' }, port);
  });
  afterAll(async () => {
    await edge?.close();
    await origin?.close();
  });

  it.each(['status-500', 'private-key', 'wrong-issuer', 'status-404', 'connection-reset'] as const)(
    'keeps serving the last good fleet copy when the origin answers %s',
    async (fault) => {
      origin.fail('_fleet', null);
      const good = await snapshot(`${edge.url}${JWKS}`);
      expect(good.status).toBe(200);
      expect(JSON.parse(good.body)).toEqual(jwksOf(key));
      origin.fail('_fleet', fault);
      const during = await snapshot(`${edge.url}${JWKS}`);
      expect(during).toEqual(good);
      expect(edge.logs.some((line) => line.includes('origin check failed'))).toBe(true);
      const page = await (await fetch(`${edge.url}/_fleet`)).text();
      expect(page).toContain('serving a stale copy');
    },
  );

  it('answers 404 with the fix, then 502, in its own shape for a fleet issuer it never had', async () => {
    const other = await startScriptedOrigin({ delayMs: 100 });
    const fresh = await startEdge(other.url);
    try {
      const res = await fetch(`${fresh.url}${JWKS}`);
      expect(res.status).toBe(404);
      const missing = (await res.json()) as { error: { code: string; message: string } };
      expect(missing.error.code).toBe('cluster_not_found');
      expect(missing.error.message).toMatch(/fleet mode.*IDBRIDGE_ORIGIN/);
      other.publish('_fleet', jwksOf(key), fresh.publicUrl);
      other.fail('_fleet', 'status-500');
      const failing = await fetch(`${fresh.url}${DISCOVERY}`);
      expect(failing.status).toBe(502);
      expect(((await failing.json()) as { error: { code: string } }).error.code).toBe(
        'bad_gateway',
      );
    } finally {
      await fresh.close();
      await other.close();
    }
  });
});
