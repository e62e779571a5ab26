import { fork, spawn, type ChildProcess } from 'node:child_process';
import { parseProvider } from '../../src/credentials/credential-config.js';
import type { FakeEndpoint, FakeProvider } from '../../test/fakes/google.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../../test/support/keys.js';
import { freePort } from '../../test/support/net.js';
import { spawnServe, tempDir } from '../../test/support/serve.js';
import { percentiles, startBareProxy } from './lib.js';
import { stsExchangeForm } from '../../test/support/sts.js';

/**
 * The broker on the wire: the real `idbridge serve` (a child process, file store) in front of
 * the fake Google STS (another child process, upstream.ts), against a direct call to the same
 * fake in the same run. This process is the pods.
 *   1. Added latency: the same exchange, one at a time, through the broker and directly,
 *      alternating, each through the broker with a token it has not seen (no cache hit).
 *   2. Coalescing: 1,000 pods holding 50 distinct tokens start at once; upstream calls counted.
 * Prints one JSON line.
 */
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 1000);
const PODS = 1000;
const DISTINCT_TOKENS = 50;
/** What a Google STS answer takes from a cluster's network, give or take, for the burst. */
const UPSTREAM_DELAY_MS = 100;

const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/bench',
);
const dir = await tempDir('idbridge-bench-');
const google = await startUpstream();
const port = await freePort();
const publicUrl = `http://127.0.0.1:${port}`;
const issuer = `${publicUrl}/bench`;
await google.provider({ path: provider.path, issuerUri: issuer });
const adminToken = 'bench-admin-token-0123456789';
const serve = await spawnServe({
  PORT: String(port),
  IDBRIDGE_STORE: `file:${dir.path}`,
  IDBRIDGE_ADMIN_TOKEN: adminToken,
  IDBRIDGE_STS_URL: google.url,
  IDBRIDGE_IAMCREDENTIALS_URL: google.url,
  // The latency run exchanges one subject's tokens back to back: limits would measure themselves.
  IDBRIDGE_BROKER_RATE_PER_CLUSTER: '0',
  IDBRIDGE_BROKER_RATE_PER_SUBJECT: '0',
  ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
});

// The same hop with nothing in it: a bare forwarding proxy in its own process.
const proxy = await startBareProxy(google.url);

// The same serve with its fast paths off (hono only), on its own store, under the same public URL
// so the same tokens verify: what the Node fast path buys over the hono route.
const honoDir = await tempDir('idbridge-bench-hono-');
const honoOnly = await spawnHonoOnly({
  PORT: String(await freePort()),
  IDBRIDGE_PUBLIC_URL: publicUrl,
  IDBRIDGE_STORE: `file:${honoDir.path}`,
  IDBRIDGE_ADMIN_TOKEN: 'bench-admin-token-0123456789',
  IDBRIDGE_STS_URL: google.url,
  IDBRIDGE_IAMCREDENTIALS_URL: google.url,
  IDBRIDGE_BROKER_RATE_PER_CLUSTER: '0',
  IDBRIDGE_BROKER_RATE_PER_SUBJECT: '0',
  ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
});

// spawnServe parses every log line as it arrives; here they are only kept, and read afterwards,
// so that this process (the pods) does no work for the broker while it measures.
const serveOutput: Buffer[] = [];
serve.child.stdout!.removeAllListeners('data');
serve.child.stdout!.on('data', (chunk: Buffer) => serveOutput.push(chunk));

try {
  const key = generateClusterKey('RS256');
  for (const base of [serve.url, honoOnly.url]) {
    const registered = await fetch(`${base}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'bench', jwks: jwksOf(key) }),
    });
    if (registered.status !== 201)
      throw new Error(`registration failed: ${registered.status} ${await registered.text()}`);
  }

  const sign = (i: number) =>
    signKubeToken(key, {
      issuer,
      audience: provider.audience,
      namespace: 'apps',
      serviceAccount: `app-${i % 20}`,
    });
  const form = (token: string) =>
    new URLSearchParams(stsExchangeForm(token, provider.audience)).toString();
  const exchange = async (base: string, token: string): Promise<number> => {
    const started = performance.now();
    const res = await fetch(`${base}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(token),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`exchange through ${base} answered ${res.status}`);
    return performance.now() - started;
  };

  // 1. Added latency.
  const tokens = await Promise.all(
    Array.from({ length: LATENCY_SAMPLES + 100 }, (_, i) => sign(i)),
  );
  for (const token of tokens.slice(0, 100)) {
    await exchange(google.url, token);
    await exchange(serve.url, token);
  }
  for (const token of tokens.slice(0, 100)) await exchange(proxy.url, token);
  for (const token of tokens.slice(0, 100)) await exchange(honoOnly.url, token);
  const direct: number[] = [];
  const brokered: number[] = [];
  const proxied: number[] = [];
  const brokeredHono: number[] = [];
  const ways: Array<[string, number[]]> = [
    [google.url, direct],
    [serve.url, brokered],
    [proxy.url, proxied],
    [honoOnly.url, brokeredHono],
  ];
  for (const [i, token] of tokens.slice(100).entries()) {
    // Rotate which goes first, so none always runs on a warmer connection.
    for (let k = 0; k < ways.length; k++) {
      const [base, samples] = ways[(i + k) % ways.length]!;
      samples.push(await exchange(base, token));
    }
  }

  // The broker's own share of its latency: answer time minus time waiting for the upstream.
  const audited = Buffer.concat(serveOutput)
    .toString()
    .split('\n')
    .filter((line) => line.includes('"broker exchange"'))
    .map((line) => JSON.parse(line) as { ms: number; upstreamMs?: number });
  const inBroker = audited.slice(-LATENCY_SAMPLES).map((line) => line.ms - (line.upstreamMs ?? 0));

  // 2. Coalescing: every pod exchanges its token at the same moment.
  const burstTokens = await Promise.all(
    Array.from({ length: DISTINCT_TOKENS }, (_, i) => sign(10_000 + i)),
  );
  await google.delay(UPSTREAM_DELAY_MS);
  const burst = async (base: string) => {
    const before = (await google.calls()).token;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: PODS }, (_, pod) => exchange(base, burstTokens[pod % DISTINCT_TOKENS]!)),
    );
    const ms = performance.now() - started;
    return { upstreamCalls: (await google.calls()).token - before, ms };
  };
  const withoutBroker = await burst(google.url);
  const withBroker = await burst(serve.url);

  console.log(
    JSON.stringify({
      latency: {
        samples: LATENCY_SAMPLES,
        direct: percentiles(direct),
        broker: percentiles(brokered),
        bareProxy: percentiles(proxied),
        inBroker: percentiles(inBroker),
        honoOnly: percentiles(brokeredHono),
      },
      coalescing: {
        pods: PODS,
        distinctTokens: DISTINCT_TOKENS,
        upstreamDelayMs: UPSTREAM_DELAY_MS,
        direct: withoutBroker,
        broker: withBroker,
      },
    }),
  );
} finally {
  await honoOnly.stop();
  await honoDir.remove();
  await proxy.close();
  await serve.stop();
  await google.close();
  await dir.remove();
}

/** bench/lib/serve-hono-only.mjs (serve without its fast paths) in its own process; its log is dropped. */
async function spawnHonoOnly(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [new URL('../lib/serve-hono-only.mjs', import.meta.url).pathname],
    { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const listening = buffered
        .split('\n')
        .map((line) => {
          try {
            return JSON.parse(line) as { msg?: string; url?: string };
          } catch {
            return {};
          }
        })
        .find((entry) => entry.msg === 'listening');
      if (listening?.url) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(listening.url);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve (hono only) exited (${code})`)));
  });
  return {
    url,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** upstream.ts in its own process, and the few things this benchmark asks of it. */
async function startUpstream() {
  const child: ChildProcess = fork(new URL('./upstream.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      child.once('message', (msg) => resolve(msg as T));
      child.once('exit', (code) => reject(new Error(`the fake Google exited (${code})`)));
    });
  const ask = async <T>(command: object): Promise<T> => {
    const answer = next<T>();
    child.send(command);
    return answer;
  };
  const { url } = await next<{ url: string }>();
  return {
    url,
    provider: (provider: FakeProvider) => ask<{ ok: true }>({ type: 'provider', provider }),
    delay: (ms: number) => ask<{ ok: true }>({ type: 'delay', ms }),
    calls: async () =>
      (await ask<{ calls: Record<FakeEndpoint, number> }>({ type: 'calls' })).calls,
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      await exited;
    },
  };
}
