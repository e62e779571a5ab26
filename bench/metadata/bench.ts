import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/net.js';
import { IDBRIDGE_BIN, REPO_ROOT } from '../../test/support/serve.js';
import { GSA, startMetadataWorld } from '../../test/metadata/world.js';

// autocannon ships no types; the little of it used here.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  headers: Record<string, string>;
  connections: number;
  duration: number;
}) => Promise<{
  non2xx: number;
  errors: number;
  requests: { average: number };
  latency: { p50: number; p99: number };
}>;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_START_RUNS ?? 5);
const TOKEN = '/computeMetadata/v1/instance/service-accounts/default/token';
const FLAVOR = { 'metadata-flavor': 'Google' };
/** Server on core 0, load generator on core 1 (when there are two), as the other benches do. */
const pin = (args: string[]) =>
  cpus().length > 1
    ? (['taskset', ['-c', '0', ...args]] as const)
    : ([args[0]!, args.slice(1)] as const);

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

async function waitFor200(url: string, headers: Record<string, string> = {}): Promise<void> {
  for (;;) {
    try {
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function start(command: string, args: string[]): ChildProcess {
  const [cmd, rest] = pin([command, ...args]);
  return spawn(cmd, [...rest], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH ?? '' },
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function load(
  url: string,
): Promise<{ rps: number; p50: number; p99: number; failed: number }> {
  await autocannon({ url, headers: FLAVOR, connections: 10, duration: 2 });
  const result = await autocannon({ url, headers: FLAVOR, connections: 10, duration: SECONDS });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors,
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const world = await startMetadataWorld();
  const config = await world.credentialConfig('bench', GSA);
  try {
    // 1. Throughput and latency, warm.
    const port = await freePort();
    const sidecar = start(process.execPath, [
      IDBRIDGE_BIN,
      'metadata-server',
      '--credential-config',
      config,
      '--port',
      String(port),
    ]);
    await waitFor200(`http://127.0.0.1:${port}${TOKEN}`, FLAVOR);
    const ours = await load(`http://127.0.0.1:${port}${TOKEN}`);
    const warmRss = rssMiB(sidecar.pid!);
    await stop(sidecar);
    const basePort = await freePort();
    const baseline = start(process.execPath, [
      join(REPO_ROOT, 'bench/metadata/baseline.mjs'),
      String(basePort),
    ]);
    await waitFor200(`http://127.0.0.1:${basePort}/`);
    const base = await load(`http://127.0.0.1:${basePort}${TOKEN}`);
    await stop(baseline);

    // 2. Start-to-ready and RSS at ready, against a bare node:http server started the same way.
    const starts: number[] = [];
    const rss: number[] = [];
    const bareStarts: number[] = [];
    const bareRss: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const p = await freePort();
      const t0 = performance.now();
      const child = start(process.execPath, [
        IDBRIDGE_BIN,
        'metadata-server',
        '--credential-config',
        config,
        '--port',
        String(p),
      ]);
      await waitFor200(`http://127.0.0.1:${p}/readyz`);
      starts.push(performance.now() - t0);
      rss.push(rssMiB(child.pid!));
      await stop(child);
      const q = await freePort();
      const t1 = performance.now();
      const bare = start(process.execPath, [
        join(REPO_ROOT, 'bench/metadata/baseline.mjs'),
        String(q),
      ]);
      await waitFor200(`http://127.0.0.1:${q}/`);
      bareStarts.push(performance.now() - t1);
      bareRss.push(rssMiB(bare.pid!));
      await stop(bare);
    }

    const load1 = execFileSync('cat', ['/proc/loadavg']).toString().split(' ')[0];
    const out = [
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, load average ${load1} at the end; server pinned to core 0, autocannon (10 connections, ${SECONDS} s) on the rest.`,
      '',
      '| | idbridge metadata-server | same-run baseline (constant answer, node:http) | ratio |',
      '|---|---|---|---|',
      `| warm /token requests/s | ${ours.rps.toFixed(0)} | ${base.rps.toFixed(0)} | ${(ours.rps / base.rps).toFixed(2)} (goal ≥ 0.8) |`,
      `| warm /token p50 / p99 latency | ${ours.p50} / ${ours.p99} ms | ${base.p50} / ${base.p99} ms | |`,
      `| failed requests | ${ours.failed} | ${base.failed} | |`,
      `| start to ready (spawn → first 200 from /readyz), median of ${RUNS} | ${median(starts).toFixed(0)} ms | ${median(bareStarts).toFixed(0)} ms (bare node to listening) | goal < 300 ms |`,
      `| RSS at ready, median of ${RUNS} | ${median(rss).toFixed(1)} MiB | ${median(bareRss).toFixed(1)} MiB (bare node:http) | goal < 40 MiB |`,
      `| RSS after the load run | ${warmRss.toFixed(1)} MiB | | |`,
      '',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await world.close();
  }
}

await main();
