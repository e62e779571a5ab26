import { cpus, availableParallelism } from 'node:os';

/** Turns the two JSON lines of verify-throughput.ts and exchange.ts into the Markdown table. */
interface Rate {
  perSecond: number;
  perCpuSecond: number;
}
interface Verify {
  threads: number;
  threadpool: number;
  concurrency: number;
  tokens: number;
  rounds: number;
  durationMs: number;
  'node-crypto': Rate;
  'node-crypto-jwt': Rate;
  idbridge: Rate;
  'jose-serial': Rate;
}
interface Percentiles {
  p50: number;
  p99: number;
}
interface Exchange {
  latency: {
    samples: number;
    direct: Percentiles;
    broker: Percentiles;
    bareProxy: Percentiles;
    inBroker: Percentiles;
    honoOnly?: Percentiles;
  };
  coalescing: {
    pods: number;
    distinctTokens: number;
    upstreamDelayMs: number;
    direct: { upstreamCalls: number; ms: number };
    broker: { upstreamCalls: number; ms: number };
  };
}

/** clouds.ts: AWS STS and Entra ID exchanges through the broker, directly and through a bare proxy. */
interface CloudLatency {
  direct: Percentiles;
  broker: Percentiles;
  bareProxy: Percentiles;
}
interface Clouds {
  samples: number;
  aws: CloudLatency;
  entra: CloudLatency;
}

const verify = JSON.parse(process.argv[2]!) as Verify;
const exchange = JSON.parse(process.argv[3]!) as Exchange;
const clouds = process.argv[4] ? (JSON.parse(process.argv[4]) as Clouds) : undefined;
const n = (value: number) => Math.round(value).toLocaleString('en-US');
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)} ×`;
const ms = (value: number) => `${value.toFixed(2)} ms`;
const signed = (value: number) => `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
const { latency, coalescing } = exchange;
const saved = coalescing.direct.upstreamCalls - coalescing.broker.upstreamCalls;

const rows = [
  ['measure', 'idbridge', 'baseline, same run', 'result', 'goal'],
  ['---', '---', '---', '---', '---'],
  [
    `token verification at saturation, ${verify.threads} threads (tokens/s)`,
    `${n(verify.idbridge.perSecond)} — SubjectTokenVerifier (jose)`,
    `${n(verify['node-crypto'].perSecond)} — node:crypto RS256 signature only`,
    ratio(verify.idbridge.perSecond, verify['node-crypto'].perSecond),
    '≥ 0.5 ×',
  ],
  [
    '',
    '',
    `${n(verify['node-crypto-jwt'].perSecond)} — node:crypto minimal JWT check (header, kid, signature, claims, exp)`,
    ratio(verify.idbridge.perSecond, verify['node-crypto-jwt'].perSecond),
    '',
  ],
  [
    '',
    `${n(verify['jose-serial'].perSecond)} — jose jwtVerify awaited one at a time`,
    `${n(verify['node-crypto'].perSecond)} — signature only`,
    ratio(verify['jose-serial'].perSecond, verify['node-crypto'].perSecond),
    '',
  ],
  [
    'token verification per CPU-second (all threads)',
    n(verify.idbridge.perCpuSecond),
    `${n(verify['node-crypto'].perCpuSecond)} — signature only`,
    ratio(verify.idbridge.perCpuSecond, verify['node-crypto'].perCpuSecond),
    '',
  ],
  [
    `broker added latency, p50 (${n(latency.samples)} sequential exchanges, no cache hits)`,
    ms(latency.broker.p50),
    `${ms(latency.direct.p50)} — direct to the same upstream`,
    `+${ms(latency.broker.p50 - latency.direct.p50)}`,
    '< 1 ms',
  ],
  [
    'broker added latency, p99',
    ms(latency.broker.p99),
    ms(latency.direct.p99),
    `+${ms(latency.broker.p99 - latency.direct.p99)}`,
    '',
  ],
  [
    'added latency of a bare forwarding proxy (the hop alone, own process), p50 / p99',
    `${ms(latency.bareProxy.p50)} / ${ms(latency.bareProxy.p99)}`,
    `${ms(latency.direct.p50)} / ${ms(latency.direct.p99)} — direct`,
    `+${ms(latency.bareProxy.p50 - latency.direct.p50)} / +${ms(latency.bareProxy.p99 - latency.direct.p99)}`,
    '',
  ],
  [
    'broker over the bare proxy, p50',
    ms(latency.broker.p50),
    `${ms(latency.bareProxy.p50)} — bare proxy`,
    `+${ms(latency.broker.p50 - latency.bareProxy.p50)}`,
    '',
  ],
  ...(latency.honoOnly
    ? [
        [
          'broker added latency with the fast path off (hono only), p50 / p99',
          `${ms(latency.honoOnly.p50)} / ${ms(latency.honoOnly.p99)}`,
          `${ms(latency.broker.p50)} / ${ms(latency.broker.p99)} — fast path, same run`,
          `${latency.honoOnly.p50 - latency.broker.p50 >= 0 ? '+' : ''}${ms(latency.honoOnly.p50 - latency.broker.p50)} p50`,
          '',
        ],
      ]
    : []),
  [
    'of which inside the broker (its audit `ms` minus `upstreamMs`), p50 / p99',
    `${ms(latency.inBroker.p50)} / ${ms(latency.inBroker.p99)}`,
    '',
    'the rest is the extra network hop',
    '',
  ],
  [
    `upstream calls, ${n(coalescing.pods)} pods with ${coalescing.distinctTokens} distinct tokens at once`,
    n(coalescing.broker.upstreamCalls),
    `${n(coalescing.direct.upstreamCalls)} — pods calling the upstream directly`,
    `${n(saved)} saved (${Math.round((saved / coalescing.direct.upstreamCalls) * 100)} %)`,
    '',
  ],
  [
    `time until all ${n(coalescing.pods)} pods hold a token (upstream answers in ${coalescing.upstreamDelayMs} ms)`,
    ms(coalescing.broker.ms),
    ms(coalescing.direct.ms),
    '',
    '',
  ],
  ...(clouds
    ? (
        [
          ['aws', 'AWS STS AssumeRoleWithWebIdentity'],
          ['entra', 'Entra ID token (federated assertion)'],
        ] as const
      ).map(([cloud, what]) => {
        const c = clouds[cloud];
        return [
          `${what} through the broker, p50 / p99 (${n(clouds.samples)} sequential exchanges, no cache hits)`,
          `${ms(c.broker.p50)} / ${ms(c.broker.p99)}`,
          `${ms(c.bareProxy.p50)} / ${ms(c.bareProxy.p99)} — bare proxy; ${ms(c.direct.p50)} / ${ms(c.direct.p99)} — direct`,
          `${signed(c.broker.p50 - c.bareProxy.p50)} / ${signed(c.broker.p99 - c.bareProxy.p99)} over the bare proxy`,
          '',
        ];
      })
    : []),
];

const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(`### STS broker (\`npm run bench -- broker\`)\n`);
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${cpu}, ${availableParallelism()} cores, Node ${process.version}, UV_THREADPOOL_SIZE=${verify.threadpool}, ${verify.concurrency} verifications in flight per thread, medians of ${verify.rounds} × ${verify.durationMs / 1000} s.\n`,
);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
