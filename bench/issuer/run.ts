/**
 * Issuer benchmark: GET /{c}/openid/v1/jwks on `idbridge serve` (file store, logging on, as in
 * production) against nginx serving the same bytes as static files, same machine, same load tool
 * (wrk), same run; with 1 and with 10,000 registered clusters.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../test/support/net.js';
import { fmt, machine, startNginx, waitForPort, wrk, type LoadResult } from '../lib/tools.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLUSTERS = 10_000;
// BENCH_SERVE_PORT / BENCH_NGINX_PORT pin the ports; by default each is a free one chosen at start.
const SERVE_PORT = Number(process.env.BENCH_SERVE_PORT ?? 0) || (await freePort());
const NGINX_PORT = Number(process.env.BENCH_NGINX_PORT ?? 0) || (await freePort());

function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  return { use: 'sig', kty: 'RSA', kid, alg: 'RS256', n, e };
}

/** Writes records the way FileStore does (one JSON file per cluster), without a fsync per file. */
async function seed(dir: string, publicUrl: string, count: number): Promise<void> {
  await mkdir(join(dir, 'clusters'), { recursive: true });
  const base = jwk('seed');
  const now = new Date().toISOString();
  for (let i = 1; i <= count; i++) {
    const id = `c${i}`;
    const kid = createHash('sha256').update(id).digest('base64url');
    const record = {
      id,
      issuer: `${publicUrl}/${id}`,
      syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
      keys: [{ jwk: { ...base, kid }, firstSeen: now, lastSeen: now }],
      keyEvents: [],
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    await writeFile(join(dir, 'clusters', `${id}.json`), JSON.stringify(record));
  }
}

/** `idbridge serve`, or with `honoOnly` the same serve with its fast paths off (bench/lib/serve-hono-only.mjs). */
async function startServe(dir: string, honoOnly = false): Promise<() => Promise<void>> {
  const log = await open(join(dir, honoOnly ? 'serve-hono.log' : 'serve.log'), 'w');
  const child = spawn(
    process.execPath,
    honoOnly
      ? [join(ROOT, 'bench/lib/serve-hono-only.mjs')]
      : [join(ROOT, 'bin/idbridge.js'), 'serve'],
    {
      env: {
        ...process.env,
        PORT: String(SERVE_PORT),
        IDBRIDGE_STORE: `file:${dir}`,
        IDBRIDGE_ADMIN_TOKEN: 'bench-admin-token-0123456789',
        IDBRIDGE_PUBLIC_URL: `http://127.0.0.1:${SERVE_PORT}`,
      },
      stdio: ['ignore', log.fd, 'inherit'],
    },
  );
  await waitForPort(SERVE_PORT, '/healthz');
  return async () => {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
    await log.close();
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-issuer-'));
  const publicUrl = `http://127.0.0.1:${SERVE_PORT}`;
  await seed(dir, publicUrl, CLUSTERS);
  const stopServe = await startServe(dir);

  // Warm every cluster once (first request of a cluster reads its record), then copy the bytes for nginx.
  const files: Record<string, Uint8Array> = {};
  for (let i = 1; i <= CLUSTERS; i++) {
    const res = await fetch(`${publicUrl}/c${i}/openid/v1/jwks`);
    files[`c${i}/openid/v1/jwks`] = new Uint8Array(await res.arrayBuffer());
  }
  const etag = (await fetch(`${publicUrl}/c1/openid/v1/jwks`)).headers.get('etag')!;
  const nginx = await startNginx(NGINX_PORT, files, 'application/jwk-set+json');
  const nginxEtag = (await fetch(`http://127.0.0.1:${NGINX_PORT}/c1/openid/v1/jwks`)).headers.get(
    'etag',
  )!;

  const script = join(dir, 'random-cluster.lua');
  await writeFile(
    script,
    `math.randomseed(os.time())\nrequest = function() return wrk.format("GET", "/c" .. math.random(1, ${CLUSTERS}) .. "/openid/v1/jwks") end\n`,
  );

  const rows: Array<[string, string, LoadResult, LoadResult]> = [];
  const pair = async (
    name: string,
    connections: string,
    serveRun: () => Promise<LoadResult>,
    nginxRun: () => Promise<LoadResult>,
  ) => {
    const n = await nginxRun();
    const s = await serveRun();
    rows.push([name, connections, s, n]);
  };
  const url = (port: number) => `http://127.0.0.1:${port}/c1/openid/v1/jwks`;
  for (const connections of [10, 64]) {
    await pair(
      'JWKS, 1 cluster',
      String(connections),
      () => wrk(url(SERVE_PORT), { connections, seconds: SECONDS }),
      () => wrk(url(NGINX_PORT), { connections, seconds: SECONDS }),
    );
    await pair(
      'JWKS with If-None-Match (304), 1 cluster',
      String(connections),
      () =>
        wrk(url(SERVE_PORT), { connections, seconds: SECONDS, headers: { 'If-None-Match': etag } }),
      () =>
        wrk(url(NGINX_PORT), {
          connections,
          seconds: SECONDS,
          headers: { 'If-None-Match': nginxEtag },
        }),
    );
    await pair(
      `JWKS, random of ${fmt(CLUSTERS)} clusters`,
      String(connections),
      () => wrk(`http://127.0.0.1:${SERVE_PORT}`, { connections, seconds: SECONDS, script }),
      () => wrk(`http://127.0.0.1:${NGINX_PORT}`, { connections, seconds: SECONDS, script }),
    );
  }
  await stopServe();

  // The same serve with its fast paths off: what the Node fast path buys over the hono route.
  const stopHono = await startServe(dir, true);
  for (let i = 1; i <= CLUSTERS; i++)
    await (await fetch(`${publicUrl}/c${i}/openid/v1/jwks`)).arrayBuffer();
  const fastRows: Array<[string, string, LoadResult, LoadResult]> = [];
  for (const row of rows) {
    const [name, connections, fast] = row;
    const random = name.startsWith('JWKS, random');
    const headers = name.includes('If-None-Match') ? { 'If-None-Match': etag } : undefined;
    const hono = random
      ? await wrk(`http://127.0.0.1:${SERVE_PORT}`, {
          connections: Number(connections),
          seconds: SECONDS,
          script,
        })
      : await wrk(url(SERVE_PORT), {
          connections: Number(connections),
          seconds: SECONDS,
          ...(headers ? { headers } : {}),
        });
    fastRows.push([name, connections, fast, hono]);
  }
  await stopHono();
  await nginx.stop();
  await rm(dir, { recursive: true, force: true });

  const lines = [
    `Issuer: \`GET /{c}/openid/v1/jwks\`, wrk 1 thread, ${SECONDS} s per row; ${machine()}; ${new Date().toISOString().slice(0, 10)}.`,
    'idbridge serve: one Node process, file store, one JSON access-log line per request to a file. nginx: Debian package, `worker_processes auto`, access log to a file, same bytes as static files.',
    '',
    '| case | connections | serve req/s | serve p50 / p99 ms | nginx req/s | nginx p50 / p99 ms | serve / nginx |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      ([name, connections, s, n]) =>
        `| ${name} | ${connections} | ${fmt(s.requestsPerSecond)} | ${fmt(s.p50Ms, 2)} / ${fmt(s.p99Ms, 2)} | ${fmt(n.requestsPerSecond)} | ${fmt(n.p50Ms, 2)} / ${fmt(n.p99Ms, 2)} | ${fmt(s.requestsPerSecond / n.requestsPerSecond, 2)} |`,
    ),
    '',
    'The same serve with its fast paths off (hono only, `bench/lib/serve-hono-only.mjs`), run after the rows above: what the Node fast path buys.',
    '',
    '| case | connections | fast path req/s | hono only req/s | hono only p50 / p99 ms | fast / hono |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...fastRows.map(
      ([name, connections, f, h]) =>
        `| ${name} | ${connections} | ${fmt(f.requestsPerSecond)} | ${fmt(h.requestsPerSecond)} | ${fmt(h.p50Ms, 2)} / ${fmt(h.p99Ms, 2)} | ${fmt(f.requestsPerSecond / h.requestsPerSecond, 2)} |`,
    ),
  ];
  // wrk counts answers that are neither 2xx nor 3xx: any is an error (the 304 rows are 3xx).
  const failures = [
    ...rows,
    ...fastRows.map(
      ([name, connections, , h]) => [`${name} (hono only)`, connections, h, h] as const,
    ),
  ].flatMap(([name, , s, n]) => [
    ...(s.non2xx > 0 ? [`serve answered ${s.non2xx} errors in "${name}"`] : []),
    ...(n.non2xx > 0 ? [`nginx answered ${n.non2xx} errors in "${name}"`] : []),
  ]);
  console.log([...lines, ...failures.map((f) => `\n**${f}**`)].join('\n'));
  // A server that answers errors measures its error path: the table is not a result, so fail the
  // bench (bench/run.sh then keeps the committed table), as nginx's 403s on an unreadable TMPDIR did.
  if (failures.length > 0) {
    console.error(`issuer bench: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

await main();
