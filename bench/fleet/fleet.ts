import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { cpus } from 'node:os';
import { base64url, exportJWK, generateKeyPair } from 'jose';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { FLEET_TOKEN_LIFETIME_SECONDS, fleetClaims } from '../../src/fleet/claims.js';
import { LocalFleetKeys } from '../../src/fleet/local-keys.js';
import { createLogger } from '../../src/log/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { VerifiedToken } from '../../src/verify/subject-token.js';
import { startFakeGoogle } from '../../test/fakes/google.js';
import { fleetAttributes } from '../../test/fleet/stack.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../../test/support/keys.js';
import { freePort } from '../../test/support/net.js';
import { spawnServe, tempDir } from '../../test/support/serve.js';
import { postStsExchange } from '../../test/support/sts.js';

/**
 * Fleet mode's cost. 1: the same exchange through the real `idbridge serve` for a plain cluster
 * (its own provider) and a fleet cluster (re-minted under the fleet provider), alternating, one at
 * a time, fresh tokens (no cache hit); the broker's own share is answer time minus upstream time
 * from its audit lines. 2: mints per second at saturation on one core against bare node:crypto
 * ES256 signing of the same claims. Prints a Markdown table.
 */
const SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 1000);
const MINT_MS = Number(process.env.BENCH_MINT_MS ?? 5000);
const plainProvider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/plain',
);
const fleetProvider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/fleet',
);

const dir = await tempDir('idbridge-bench-fleet-');
const google = await startFakeGoogle();
const port = await freePort();
const publicUrl = `http://127.0.0.1:${port}`;
google.providers.push(
  { path: plainProvider.path, issuerUri: `${publicUrl}/plain` },
  { path: fleetProvider.path, issuerUri: `${publicUrl}/_fleet`, attributeMapping: fleetAttributes },
);
const adminToken = 'bench-admin-token-0123456789';
const serve = await spawnServe({
  PORT: String(port),
  IDBRIDGE_STORE: `file:${dir.path}`,
  IDBRIDGE_ADMIN_TOKEN: adminToken,
  IDBRIDGE_STS_URL: google.url,
  IDBRIDGE_IAMCREDENTIALS_URL: google.url,
  IDBRIDGE_FLEET_PROVIDER: fleetProvider.path,
  IDBRIDGE_BROKER_RATE_PER_CLUSTER: '0',
  IDBRIDGE_BROKER_RATE_PER_SUBJECT: '0',
});
const serveOutput: Buffer[] = [];
serve.child.stdout!.removeAllListeners('data');
serve.child.stdout!.on('data', (chunk: Buffer) => serveOutput.push(chunk));

try {
  const key = generateClusterKey('RS256');
  for (const [id, mode] of [
    ['plain', 'provider'],
    ['fleet', 'fleet'],
  ] as const) {
    const res = await fetch(`${serve.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, jwks: jwksOf(key), mode }),
    });
    if (res.status !== 201) throw new Error(`registration failed: ${res.status}`);
  }
  const ways = {
    plain: { provider: plainProvider, samples: [] as number[] },
    fleet: { provider: fleetProvider, samples: [] as number[] },
  };
  const exchange = async (cluster: 'plain' | 'fleet', i: number): Promise<number> => {
    const { provider } = ways[cluster];
    const token = await signKubeToken(key, {
      issuer: `${publicUrl}/${cluster}`,
      audience: provider.audience,
      namespace: 'apps',
      serviceAccount: `app-${i}`,
    });
    const started = performance.now();
    const res = await postStsExchange(serve.url, token, provider.audience);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${cluster} exchange answered ${res.status}`);
    return performance.now() - started;
  };
  for (let i = 0; i < 50; i++) {
    await exchange('plain', i);
    await exchange('fleet', i);
  }
  for (let i = 0; i < SAMPLES; i++) {
    // Alternate which goes first, so neither always runs on a warmer connection.
    const order = i % 2 ? (['plain', 'fleet'] as const) : (['fleet', 'plain'] as const);
    for (const cluster of order) ways[cluster].samples.push(await exchange(cluster, 1000 + i));
  }
  const audited = Buffer.concat(serveOutput)
    .toString()
    .split('\n')
    .filter((line) => line.includes('"broker exchange"'))
    .map(
      (line) =>
        JSON.parse(line) as {
          cluster: string;
          ms: number;
          upstreamMs?: number;
          fleetMintMs?: number;
        },
    )
    .slice(-2 * SAMPLES);
  const inBroker = (cluster: string) =>
    audited
      .filter((l) => l.cluster === cluster)
      // The mint runs inside the upstream call (so identical calls share it): count it back in.
      .map((l) => l.ms - (l.upstreamMs ?? 0) + (l.fleetMintMs ?? 0));

  const mints = await mintRates();
  const plainIn = percentiles(inBroker('plain'));
  const fleetIn = percentiles(inBroker('fleet'));
  const row = (what: string, p: { p50: number; p99: number }) =>
    `| ${what} | ${p.p50.toFixed(3)} | ${p.p99.toFixed(3)} |`;
  console.log(
    [
      `Fleet mode (${SAMPLES} exchanges each, alternating; ${cpus()[0]?.model ?? 'unknown CPU'})`,
      '',
      '| exchange | p50 ms | p99 ms |',
      '| --- | --- | --- |',
      row('plain brokering, end to end', percentiles(ways.plain.samples)),
      row('fleet mode, end to end', percentiles(ways.fleet.samples)),
      row('plain brokering, in the broker', plainIn),
      row('fleet mode, in the broker', fleetIn),
      `| **added by fleet mode (p50, in the broker)** | **${(fleetIn.p50 - plainIn.p50).toFixed(3)}** | goal < 0.3 |`,
      '',
      '| signing the same claims, one core, saturated | mints/s |',
      '| --- | --- |',
      `| idbridge fleet signer (LocalFleetKeys.sign, ES256) | ${Math.round(mints.idbridge)} |`,
      `| bare node:crypto ES256 | ${Math.round(mints.bare)} |`,
      `| ratio | ${(mints.idbridge / mints.bare).toFixed(2)} |`,
    ].join('\n'),
  );
} finally {
  await serve.stop();
  await google.close();
  await dir.remove();
}

/** Mints/s of the fleet signer and of bare node:crypto over the same claims, each for MINT_MS. */
async function mintRates(): Promise<{ idbridge: number; bare: number }> {
  const keys = new LocalFleetKeys({
    store: new MemoryStore(),
    issuer: 'https://idbridge.example/_fleet',
    rotation: { rotationSeconds: 86400, leadSeconds: 3600, retainSeconds: 600 },
    logger: createLogger(() => {}),
  });
  const verified = {
    cluster: 'c1',
    issuer: 'https://idbridge.example/c1',
    subject: 'system:serviceaccount:apps:web',
    audiences: [fleetProvider.audience],
    namespace: 'apps',
    serviceAccount: 'web',
    pod: 'web-pod',
    kid: 'k',
    alg: 'RS256',
    issuedAt: 0,
    expiresAt: FLEET_TOKEN_LIFETIME_SECONDS,
    payload: { 'kubernetes.io': { node: { name: 'node-1' } } },
  } as VerifiedToken;
  const claims = () =>
    fleetClaims(verified, {
      issuer: 'https://idbridge.example/_fleet',
      audience: fleetProvider.audience,
      now: Date.now(),
    });
  await keys.sign(claims());
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const bareKey = createPrivateKey({ key: (await exportJWK(privateKey)) as never, format: 'jwk' });
  const header = base64url.encode(JSON.stringify({ alg: 'ES256', kid: 'k', typ: 'JWT' }));
  const saturate = async (mint: () => Promise<unknown> | unknown): Promise<number> => {
    let count = 0;
    const until = performance.now() + MINT_MS;
    const worker = async () => {
      while (performance.now() < until) {
        await mint();
        count++;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: 16 }, worker));
    return count / ((performance.now() - started) / 1000);
  };
  const idbridge = await saturate(() => keys.sign(claims()));
  const bare = await saturate(() => {
    const input = `${header}.${base64url.encode(JSON.stringify(claims()))}`;
    const signature = cryptoSign('sha256', Buffer.from(input), {
      key: bareKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${input}.${signature.toString('base64url')}`;
  });
  return { idbridge, bare };
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}
