/**
 * Sync push and GCS store benchmark (run by bench/sync/run.sh; prints a Markdown table).
 *
 * The server under test is the real `idbridge serve` CLI (a child process, so its memory is its
 * own) on the GCS store; the GCS JSON API fake runs here and counts the objects written. Same-run
 * baselines: GET /healthz (the HTTP floor) and an admin GET of one cluster (auth + one store read).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { GcsStore } from '../../src/registry/gcs-store.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { startFakeGcs } from '../../test/fakes/gcs.js';
import { freePort } from '../../test/support/net.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../../test/support/keys.js';
import { rssMiB } from '../lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
const SMALL = 10;
const LARGE = Number(process.env.BENCH_CLUSTERS ?? 10_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const ADMIN = 'bench-admin-token-0123456789';
const SYNC_SUBJECT = 'system:serviceaccount:idbridge-sync:idbridge-sync';

interface Row {
  scenario: string;
  clusters: number;
  requests: number;
  p50: number;
  p95: number;
  mean: number;
  writes?: number;
}

const rows: Row[] = [];
const notes: string[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function measure(
  scenario: string,
  clusters: number,
  count: number,
  request: (i: number) => Promise<Response>,
  writes?: () => number,
): Promise<void> {
  // Warm-up: connections, JIT, caches.
  for (let i = 0; i < 20; i++) await (await request(i)).arrayBuffer();
  const before = writes?.() ?? 0;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const res = await request(i);
    await res.arrayBuffer();
    times.push(performance.now() - start);
    if (!res.ok) throw new Error(`${scenario}: HTTP ${res.status}`);
  }
  times.sort((a, b) => a - b);
  rows.push({
    scenario,
    clusters,
    requests: count,
    p50: percentile(times, 0.5),
    p95: percentile(times, 0.95),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    ...(writes ? { writes: (writes() - before) / count } : {}),
  });
}

async function main(): Promise<void> {
  const gcs = await startFakeGcs();
  const storage = new Storage({ apiEndpoint: gcs.url, projectId: 'bench' });
  await storage.createBucket('bench');
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const seeder = new GcsStore({ storage, bucket: 'bench', prefix: 'issuers', acl: 'fine-grained' });
  const signer = generateClusterKey('RS256');
  const extra = generateClusterKey('RS256');
  const now = new Date().toISOString();
  const record = (id: string): ClusterRecord => ({
    id,
    issuer: `${publicUrl}/${id}`,
    syncSubject: SYNC_SUBJECT,
    keys: [{ jwk: signer.jwk, firstSeen: now, lastSeen: now }],
    keyEvents: [],
    createdAt: now,
    updatedAt: now,
    version: 1,
  });
  const seed = async (from: number, to: number) => {
    const ids = Array.from(
      { length: to - from },
      (_, i) => `c${String(from + i).padStart(5, '0')}`,
    );
    for (let i = 0; i < ids.length; i += 64)
      await Promise.all(ids.slice(i, i + 64).map((id) => seeder.put(record(id), null)));
  };
  await seed(0, SMALL);

  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/idbridge.js'), 'serve', '--store', 'gcs://bench/issuers'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        IDBRIDGE_PUBLIC_URL: publicUrl,
        IDBRIDGE_ADMIN_TOKEN: ADMIN,
        IDBRIDGE_GCS_ENDPOINT: gcs.url,
        IDBRIDGE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${publicUrl}/healthz`)).ok) break;
      } catch {
        if (i > 200) throw new Error('idbridge serve did not start');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const pid = child.pid!;
    const token = (id: string) =>
      signKubeToken(signer, {
        issuer: `${publicUrl}/${id}`,
        audience: publicUrl,
        namespace: 'idbridge-sync',
        serviceAccount: 'idbridge-sync',
      });
    const writes = () => gcs.stats().objectWrites;

    const scenarios = async (clusters: number) => {
      const id = 'c00001';
      const bearer = await token(id);
      const push = (jwks: unknown) =>
        fetch(`${publicUrl}/api/v1/clusters/${id}/keys`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          body: JSON.stringify({ jwks }),
        });
      await measure('baseline: GET /healthz', clusters, REQUESTS, () =>
        fetch(`${publicUrl}/healthz`),
      );
      await measure('baseline: admin GET /api/v1/clusters/{id}', clusters, REQUESTS, () =>
        fetch(`${publicUrl}/api/v1/clusters/${id}`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        }),
      );
      await measure('sync push, no change', clusters, REQUESTS, () => push(jwksOf(signer)), writes);
      await measure(
        'sync push, changed (add/remove a key)',
        clusters,
        REQUESTS,
        (i) => push(i % 2 === 0 ? jwksOf(signer, extra) : jwksOf(signer)),
        writes,
      );
      await push(jwksOf(signer));
      await measure(
        'issuer GET jwks, random cluster (uncached ones read GCS)',
        clusters,
        REQUESTS,
        () =>
          fetch(
            `${publicUrl}/c${String(Math.floor(Math.random() * clusters)).padStart(5, '0')}/openid/v1/jwks`,
          ),
      );
      await measure('admin list, first page of 10', clusters, Math.min(REQUESTS, 50), () =>
        fetch(`${publicUrl}/api/v1/clusters?limit=10`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        }),
      );
    };

    await scenarios(SMALL);
    notes.push(`idbridge serve RSS with ${SMALL} clusters: ${rssMiB(pid).toFixed(1)} MiB`);

    const seedStart = performance.now();
    await seed(SMALL, LARGE);
    notes.push(
      `seeding ${LARGE - SMALL} more clusters through the GCS store: ${((performance.now() - seedStart) / 1000).toFixed(1)} s (3 objects each: record, JWKS, discovery)`,
    );
    await scenarios(LARGE);

    // Touch every cluster's documents once: the issuer cache then holds all of them.
    for (let i = 0; i < LARGE; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, LARGE - i) }, (_, j) =>
          fetch(`${publicUrl}/c${String(i + j).padStart(5, '0')}/openid/v1/jwks`).then((r) =>
            r.arrayBuffer(),
          ),
        ),
      );
    }
    notes.push(
      `idbridge serve RSS with ${LARGE} clusters, every cluster's documents served once (all cached): ${rssMiB(pid).toFixed(1)} MiB`,
    );
    await measure('issuer GET jwks (random cluster, all cached)', LARGE, REQUESTS, () =>
      fetch(
        `${publicUrl}/c${String(Math.floor(Math.random() * LARGE)).padStart(5, '0')}/openid/v1/jwks`,
      ),
    );

    const sweep = new GcsStore({
      storage,
      bucket: 'bench',
      prefix: 'issuers',
      acl: 'fine-grained',
    });
    // Let the server's background revalidations finish, so the counts below are the sweep's alone.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    gcs.resetStats();
    const sweepStart = performance.now();
    const report = await sweep.reconcile();
    notes.push(
      `reconciling ${report.records} records with their documents: ${((performance.now() - sweepStart) / 1000).toFixed(2)} s, ${gcs.stats().lists} list requests, ${gcs.stats().mediaReads} record reads, ${gcs.stats().objectWrites} writes${report.republished.length ? ` (repaired: ${report.republished.join(', ')})` : ''}`,
    );
  } finally {
    child.kill('SIGTERM');
    await gcs.close();
  }

  const cpu = (await import('node:os')).cpus();
  console.log(
    `### sync push and GCS store (${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, fake GCS in the bench process)\n`,
  );
  console.log(
    '| scenario | clusters | requests | p50 ms | p95 ms | mean ms | GCS objects written / request |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.clusters} | ${r.requests} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.mean.toFixed(2)} | ${r.writes === undefined ? '' : r.writes.toFixed(2)} |`,
    );
  }
  console.log('');
  for (const note of notes) console.log(`- ${note}`);
}

await main();
