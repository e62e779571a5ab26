import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ClusterRecord } from '../../src/registry/record.js';
import { SubjectTokenVerifier } from '../../src/verify/subject-token.js';
import { generateClusterKey, signKubeToken } from '../../test/support/keys.js';

/** What each worker (verify-worker.mjs) is given and asked. */
type VerifyMode = 'node-crypto' | 'node-crypto-jwt' | 'idbridge' | 'jose-serial';
interface VerifyJob {
  mode: VerifyMode;
  durationMs: number;
}
interface WorkerInput {
  tokens: string[];
  record: ClusterRecord;
  audience: string;
  concurrency: number;
}

/**
 * Verification throughput at saturation on every core: idbridge's SubjectTokenVerifier against
 * bare node:crypto RS256 signature checks of the same tokens, in the same run, phases interleaved
 * so that a noisy neighbour weighs on both alike. Prints one JSON line with the medians.
 */
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const TOKENS = 256;

const issuer = 'https://issuer.example/bench';
const audience =
  '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/bench';
const key = generateClusterKey('RS256');
const at = new Date().toISOString();
const record: ClusterRecord = {
  id: 'bench',
  issuer,
  syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
  keys: [{ jwk: key.jwk, firstSeen: at, lastSeen: at }],
  keyEvents: [],
  createdAt: at,
  updatedAt: at,
  version: 1,
};
const tokens = await Promise.all(
  Array.from({ length: TOKENS }, (_, i) =>
    signKubeToken(key, { issuer, audience, namespace: 'apps', serviceAccount: `app-${i % 16}` }),
  ),
);
// Every token must verify before its throughput means anything.
await Promise.all(
  tokens.map((token) =>
    new SubjectTokenVerifier().verify(token, record, { audiences: [audience] }),
  ),
);

const input: WorkerInput = {
  tokens,
  record,
  audience,
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 64),
};
const workers = Array.from(
  { length: THREADS },
  () =>
    new Worker(new URL('./verify-worker.mjs', import.meta.url), {
      workerData: input,
      execArgv: [],
    }),
);

interface Sample {
  perSecond: number;
  perCpuSecond: number;
}

/** Tokens per wall-clock second on all cores, and per CPU-second of this process (all its threads). */
async function phase(mode: VerifyMode, durationMs: number): Promise<Sample> {
  const job: VerifyJob = { mode, durationMs };
  const cpu = process.cpuUsage();
  const counts = await Promise.all(
    workers.map(
      (worker) =>
        new Promise<number>((resolve, reject) => {
          const exited = (code: number) =>
            reject(new Error(`a benchmark thread exited (${code}) during ${mode}`));
          worker.once('error', reject);
          worker.once('exit', exited);
          worker.once('message', (msg: { count?: number; error?: string }) => {
            worker.off('error', reject);
            worker.off('exit', exited);
            if (msg.error) reject(new Error(msg.error));
            else resolve(msg.count!);
          });
          worker.postMessage(job);
        }),
    ),
  );
  const used = process.cpuUsage(cpu);
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    perSecond: total / (durationMs / 1000),
    perCpuSecond: total / ((used.user + used.system) / 1e6),
  };
}

const modes: VerifyMode[] = ['node-crypto', 'node-crypto-jwt', 'idbridge', 'jose-serial'];
for (const mode of modes) await phase(mode, 500); // warm up JIT and key imports
if (process.env.BENCH_DEBUG) console.error('warmed up');
const samples: Record<VerifyMode, Sample[]> = {
  'node-crypto': [],
  'node-crypto-jwt': [],
  idbridge: [],
  'jose-serial': [],
};
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of modes) {
    samples[mode].push(await phase(mode, DURATION_MS));
    if (process.env.BENCH_DEBUG) console.error(`round ${round} ${mode} done`);
  }
}
await Promise.all(workers.map((worker) => worker.terminate()));

const median = (values: number[]) =>
  Math.round([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!);
const result = Object.fromEntries(
  modes.map((mode) => [
    mode,
    {
      perSecond: median(samples[mode].map((s) => s.perSecond)),
      perCpuSecond: median(samples[mode].map((s) => s.perCpuSecond)),
    },
  ]),
);
console.log(
  JSON.stringify({
    threads: THREADS,
    threadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    concurrency: input.concurrency,
    tokens: TOKENS,
    rounds: ROUNDS,
    durationMs: DURATION_MS,
    ...result,
  }),
);
