import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WRANGLER_BIN,
  WRANGLER_ENV,
  workerBundle,
  type WorkerBundle,
} from '../support/edge-worker.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { REPO_ROOT, startServe, tempDir, type ServeHarness } from '../support/serve.js';

/** Cloudflare's limit on a Worker's compressed size on the free plan. */
const FREE_PLAN_GZIP_LIMIT = 3 * 1024 * 1024;

describe('edge Worker bundle (wrangler deploy --dry-run)', () => {
  let bundle: WorkerBundle;
  beforeAll(async () => {
    bundle = await workerBundle();
  });

  it('bundles offline, far under the free-plan size limit', () => {
    expect(bundle.bytes).toBeGreaterThan(10_000);
    expect(bundle.gzipBytes).toBeLessThan(FREE_PLAN_GZIP_LIMIT / 8);
    console.info(
      `edge Worker bundle: ${(bundle.bytes / 1024).toFixed(1)} KiB, ${(bundle.gzipBytes / 1024).toFixed(1)} KiB gzip`,
    );
  });

  it('pulls in nothing from Node: no node: modules, none of the file store', async () => {
    const code = await readFile(bundle.script, 'utf8');
    expect(code).not.toMatch(/\bfrom\s*["']node:|\brequire\(\s*["']node:|\bimport\(\s*["']node:/);
    expect(code).not.toMatch(/FileStore|open-store|@hono\/node-server/);
  });

  it('declares a compatibility date and the documented variables in wrangler.toml', () => {
    expect(bundle.compatibilityDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Object.keys(bundle.vars).sort()).toEqual([
      'IDBRIDGE_EDGE_FRESH_SECONDS',
      'IDBRIDGE_EDGE_MAX_STALE_SECONDS',
      'IDBRIDGE_ORIGIN',
      'IDBRIDGE_ORIGIN_TIMEOUT_MS',
      'IDBRIDGE_PUBLIC_URL',
      'IDBRIDGE_STATUS_CLUSTERS',
    ]);
  });
});

describe('wrangler dev against a local origin', () => {
  let origin: ServeHarness;
  let state: Awaited<ReturnType<typeof tempDir>>;
  let stop: (() => void) | undefined;

  beforeAll(async () => {
    state = await tempDir('idbridge-wrangler-dev-');
  });
  afterAll(async () => {
    stop?.();
    await origin?.close();
    await state?.remove();
  });

  it('serves a cluster of `idbridge serve` under its own URL', async () => {
    const port = await freePort();
    const inspectorPort = await freePort(); // wrangler's default 9229 would collide with another run
    const publicUrl = `http://127.0.0.1:${port}`;
    origin = await startServe({ IDBRIDGE_PUBLIC_URL: publicUrl });
    const key = generateClusterKey('RS256');
    const created = await fetch(`${origin.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${origin.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'dev-c1', jwks: jwksOf(key) }),
    });
    expect(created.status).toBe(201);

    // As docs/edge.md says to run it; detached so the whole process group (workerd too) stops.
    const child = spawn(
      process.execPath,
      [
        WRANGLER_BIN,
        'dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--persist-to',
        state.path,
        '--show-interactive-dev-session=false',
        '--inspector-ip',
        '127.0.0.1',
        '--inspector-port',
        String(inspectorPort),
        '--var',
        `IDBRIDGE_PUBLIC_URL:${publicUrl}`,
        '--var',
        `IDBRIDGE_ORIGIN:${origin.url}`,
      ],
      { cwd: REPO_ROOT, env: WRANGLER_ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    stop = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
    };
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready on http:\/\/127\.0\.0\.1/.test(output)) resolve();
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) =>
        reject(new Error(`wrangler dev exited with ${code}:\n${output}`)),
      );
    });
    await ready;

    const jwks = await fetch(`${publicUrl}/dev-c1/openid/v1/jwks`);
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(await jwks.json()).toEqual(jwksOf(key));
    const discovery = (await (
      await fetch(`${publicUrl}/dev-c1/.well-known/openid-configuration`)
    ).json()) as { issuer: string };
    expect(discovery.issuer).toBe(`${publicUrl}/dev-c1`);
  }, 60_000);
});
