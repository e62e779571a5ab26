import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/net.js';
import { cpuSeconds, processMemory, type ProcessMemory } from '../lib/proc.js';
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
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
}>;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_START_RUNS ?? 5);
/** Load rounds, sidecar and constant server alternated, so both see the same moments of the VM. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Sidecars run side by side for the shared-memory measure. */
const TOGETHER = Number(process.env.BENCH_TOGETHER ?? 5);
const TOKEN = '/computeMetadata/v1/instance/service-accounts/default/token';
const FLAVOR = { 'metadata-flavor': 'Google' };
/** Server on core 0, load generator on core 1 (when there are two), as the other benches do. */
const pin = (args: string[]) =>
  cpus().length > 1
    ? (['taskset', ['-c', '0', ...args]] as const)
    : ([args[0]!, args.slice(1)] as const);

const MEMORY_CGROUPS = '/sys/fs/cgroup/memory';

/**
 * A memory cgroup of its own for one process, as a container has (cgroup v1, which this machine
 * and many nodes run; needs root). Undefined when one cannot be made here.
 */
function makeCgroup(name: string): string | undefined {
  sweepCgroups();
  const path = join(MEMORY_CGROUPS, name);
  try {
    mkdirSync(path);
    return path;
  } catch {
    return undefined;
  }
}

/** Cgroups left by a bench run that was killed (a deadline, BENCH_FAIL_AFTER): empty, removed. */
function sweepCgroups(): void {
  let names: string[];
  try {
    names = readdirSync(MEMORY_CGROUPS);
  } catch {
    return;
  }
  for (const name of names) {
    const owner = /^idbridge-bench-(\d+)-\d+$/.exec(name)?.[1];
    if (!owner || Number(owner) === process.pid || existsSync(`/proc/${owner}`)) continue;
    try {
      rmdirSync(join(MEMORY_CGROUPS, name));
    } catch {
      // still holds a process, or already gone
    }
  }
}

/**
 * A container's memory as kubelet (cAdvisor) reports it: the working set, the cgroup's usage
 * minus its inactive file cache. A file page is charged to the cgroup that first read it, so a
 * pod whose node already holds the node binary in its page cache is not charged for it.
 */
function workingSetMiB(cgroup: string): number {
  const usage = Number(readFileSync(join(cgroup, 'memory.usage_in_bytes'), 'utf8'));
  const stat = readFileSync(join(cgroup, 'memory.stat'), 'utf8');
  const inactiveFile = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
  return (usage - inactiveFile) / 2 ** 20;
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

function start(command: string, args: string[], cgroup?: string): ChildProcess {
  // In a cgroup: the shell moves itself in, then becomes the server (same pid, same cgroup).
  const inCgroup = cgroup
    ? ['sh', '-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$@"`, 'sh', command, ...args]
    : [command, ...args];
  const [cmd, rest] = pin(inCgroup);
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

interface Load {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  /** The server's CPU time over the measured run divided by the requests it answered. */
  cpuPerRequestUs: number;
}

async function load(url: string, pid: number): Promise<Load> {
  await autocannon({ url, headers: FLAVOR, connections: 10, duration: 2 });
  const cpu0 = cpuSeconds(pid);
  const result = await autocannon({ url, headers: FLAVOR, connections: 10, duration: SECONDS });
  const cpu = cpuSeconds(pid) - cpu0;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors,
    cpuPerRequestUs: (cpu / result.requests.total) * 1e6,
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const world = await startMetadataWorld();
  const config = await world.credentialConfig('bench', GSA);
  try {
    const sidecarArgs = (port: number) => [
      IDBRIDGE_BIN,
      'metadata-server',
      '--credential-config',
      config,
      '--port',
      String(port),
    ];
    // 1. Throughput, latency and CPU per request, warm, alternating the two servers.
    const rounds: Array<{ ours: Load; base: Load; warm: ProcessMemory }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const port = await freePort();
      const sidecar = start(process.execPath, sidecarArgs(port));
      await waitFor200(`http://127.0.0.1:${port}${TOKEN}`, FLAVOR);
      const ours = await load(`http://127.0.0.1:${port}${TOKEN}`, sidecar.pid!);
      const warm = processMemory(sidecar.pid!);
      await stop(sidecar);
      const basePort = await freePort();
      const baseline = start(process.execPath, [
        join(REPO_ROOT, 'bench/metadata/baseline.mjs'),
        String(basePort),
      ]);
      await waitFor200(`http://127.0.0.1:${basePort}/`);
      const base = await load(`http://127.0.0.1:${basePort}${TOKEN}`, baseline.pid!);
      await stop(baseline);
      rounds.push({ ours, base, warm });
    }

    // 2. Start-to-ready and memory at ready, against a bare node:http server started the same way.
    const starts: number[] = [];
    const ready: ProcessMemory[] = [];
    const bareStarts: number[] = [];
    const bare: ProcessMemory[] = [];
    for (let i = 0; i < RUNS; i++) {
      const p = await freePort();
      const t0 = performance.now();
      const child = start(process.execPath, sidecarArgs(p));
      await waitFor200(`http://127.0.0.1:${p}/readyz`);
      starts.push(performance.now() - t0);
      ready.push(processMemory(child.pid!));
      await stop(child);
      const q = await freePort();
      const t1 = performance.now();
      const baseline = start(process.execPath, [
        join(REPO_ROOT, 'bench/metadata/baseline.mjs'),
        String(q),
      ]);
      await waitFor200(`http://127.0.0.1:${q}/`);
      bareStarts.push(performance.now() - t1);
      bare.push(processMemory(baseline.pid!));
      await stop(baseline);
    }

    // 3. Sidecars in memory cgroups of their own, one after the other, as pods on one node.
    const workingSets: number[] = [];
    const contained: Array<{ child: ChildProcess; cgroup: string }> = [];
    try {
      for (let i = 0; i < TOGETHER; i++) {
        const cgroup = makeCgroup(`idbridge-bench-${process.pid}-${i}`);
        if (!cgroup) break;
        const p = await freePort();
        const child = start(process.execPath, sidecarArgs(p), cgroup);
        contained.push({ child, cgroup });
        await waitFor200(`http://127.0.0.1:${p}/readyz`);
        workingSets.push(workingSetMiB(cgroup));
      }
    } finally {
      await Promise.all(contained.map(({ child }) => stop(child)));
      for (const { cgroup } of contained) rmdirSync(cgroup);
    }

    // 4. Several sidecars side by side, as on a node running several pods: the file-backed pages
    //    (node, the bundle) are mapped once, so each one's PSS falls towards its private memory.
    const together: ChildProcess[] = [];
    let shared: ProcessMemory[] = [];
    try {
      for (let i = 0; i < TOGETHER; i++) {
        const p = await freePort();
        together.push(start(process.execPath, sidecarArgs(p)));
        await waitFor200(`http://127.0.0.1:${p}/readyz`);
      }
      shared = together.map((child) => processMemory(child.pid!));
    } finally {
      await Promise.all(together.map((child) => stop(child)));
    }

    const load1 = execFileSync('cat', ['/proc/loadavg']).toString().split(' ')[0];
    const mib = (v: number) => `${v.toFixed(1)} MiB`;
    const med = (list: ProcessMemory[], key: keyof ProcessMemory) =>
      median(list.map((m) => m[key]));
    const out = [
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, load average ${load1} at the end; server pinned to core 0, autocannon (10 connections, ${SECONDS} s) on the rest; ${ROUNDS} rounds, the two servers alternated.`,
      '',
      '| round | idbridge metadata-server: requests/s, CPU per request | same-run baseline (constant answer, node:http): requests/s, CPU per request | ratio of requests/s (goal ≥ 0.8) | ratio of CPU per request |',
      '|---|---|---|---|---|',
      ...rounds.map(
        ({ ours, base }, i) =>
          `| ${i + 1} | ${ours.rps.toFixed(0)}, ${ours.cpuPerRequestUs.toFixed(1)} µs | ${base.rps.toFixed(0)}, ${base.cpuPerRequestUs.toFixed(1)} µs | ${(ours.rps / base.rps).toFixed(2)} | ${(ours.cpuPerRequestUs / base.cpuPerRequestUs).toFixed(2)} |`,
      ),
      '',
      '| | idbridge metadata-server | same-run baseline | |',
      '|---|---|---|---|',
      `| warm /token p50 / p99 latency, each round | ${rounds.map((r) => `${r.ours.p50} / ${r.ours.p99}`).join(', ')} ms | ${rounds.map((r) => `${r.base.p50} / ${r.base.p99}`).join(', ')} ms (constant server) | |`,
      `| failed requests | ${rounds.reduce((a, r) => a + r.ours.failed, 0)} | ${rounds.reduce((a, r) => a + r.base.failed, 0)} | |`,
      `| start to ready (spawn → first 200 from /readyz), median of ${RUNS} | ${median(starts).toFixed(0)} ms | ${median(bareStarts).toFixed(0)} ms (bare node to listening) | goal < 300 ms |`,
      `| RSS at ready, median of ${RUNS} | ${mib(med(ready, 'rss'))} | ${mib(med(bare, 'rss'))} (bare node:http) | goal < 40 MiB |`,
      `| of which file-backed (node binary, bundle: shared) | ${mib(med(ready, 'file'))} | ${mib(med(bare, 'file'))} | |`,
      `| of which anonymous (heap, the process's own) | ${mib(med(ready, 'anon'))} | ${mib(med(bare, 'anon'))} | |`,
      `| private memory (USS) at ready: the cost of one more pod | ${mib(med(ready, 'private'))} | ${mib(med(bare, 'private'))} | |`,
      `| PSS of each of ${TOGETHER} sidecars running together, median | ${mib(med(shared, 'pss'))} | | |`,
      `| private memory of each of ${TOGETHER} sidecars running together, median | ${mib(med(shared, 'private'))} | | |`,
      `| memory working set (kubelet's measure) of each of ${TOGETHER} sidecars, each in its own memory cgroup, started one after another | ${workingSets.length > 0 ? workingSets.map((v) => v.toFixed(1)).join(', ') + ' MiB' : 'not measured (needs root and cgroup v1 memory)'} | | goal < 40 MiB |`,
      `| RSS / private memory after each load round | ${rounds.map((r) => `${r.warm.rss.toFixed(1)} / ${r.warm.private.toFixed(1)}`).join(', ')} MiB | | |`,
      '',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await world.close();
  }
}

await main();
