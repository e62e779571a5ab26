import { fork } from 'node:child_process';
import { generateClusterKey, jwksOf, signKubeToken } from '../../test/support/keys.js';
import { freePort } from '../../test/support/net.js';
import { spawnServe, tempDir } from '../../test/support/serve.js';
import { percentiles, startBareProxy } from './lib.js';

/**
 * The broker's AWS STS and Entra ID exchanges on the wire: the real `idbridge serve` (a child
 * process) in front of the fake AWS STS and Entra ID (another child process, cloud-upstream.ts),
 * against a direct call to the same fake and a bare forwarding proxy to it, in the same run, one
 * exchange at a time, alternating, each with a token the broker has not seen (no cache hit).
 * Prints one JSON line.
 */
const SAMPLES = Number(process.env.BENCH_CLOUD_SAMPLES ?? 500);
const WARMUP = Math.min(50, SAMPLES);
const ROLE_ARN = 'arn:aws:iam::123456789012:role/bench';
const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_ID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

const dir = await tempDir('idbridge-bench-clouds-');
const port = await freePort();
const issuer = `http://127.0.0.1:${port}/bench`;
const upstream = await startCloudUpstream(issuer);
const adminToken = 'bench-admin-token-0123456789';
const serve = await spawnServe({
  PORT: String(port),
  IDBRIDGE_STORE: `file:${dir.path}`,
  IDBRIDGE_ADMIN_TOKEN: adminToken,
  IDBRIDGE_BROKER_AWS_STS_URL: upstream.aws,
  IDBRIDGE_BROKER_AZURE_AUTHORITY_URL: upstream.entra,
  IDBRIDGE_BROKER_RATE_PER_CLUSTER: '0',
  IDBRIDGE_BROKER_RATE_PER_SUBJECT: '0',
  ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
});
serve.child.stdout!.removeAllListeners('data');
serve.child.stdout!.resume();
const proxies = {
  aws: await startBareProxy(upstream.aws),
  entra: await startBareProxy(upstream.entra),
};

try {
  const key = generateClusterKey('RS256');
  const registered = await fetch(`${serve.url}/api/v1/clusters`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'bench', jwks: jwksOf(key) }),
  });
  if (registered.status !== 201) throw new Error(`registration failed: ${registered.status}`);

  const sign = (audience: string, i: number) =>
    signKubeToken(key, { issuer, audience, namespace: 'apps', serviceAccount: `app-${i % 20}` });
  const clouds = {
    aws: {
      audience: 'sts.amazonaws.com',
      path: { direct: '/', broker: '/aws/sts/' },
      form: (token: string) =>
        new URLSearchParams({
          Action: 'AssumeRoleWithWebIdentity',
          Version: '2011-06-15',
          RoleArn: ROLE_ARN,
          RoleSessionName: 'bench',
          WebIdentityToken: token,
        }).toString(),
    },
    entra: {
      audience: 'api://AzureADTokenExchange',
      path: {
        direct: `/${TENANT_ID}/oauth2/v2.0/token`,
        broker: `/azure/${TENANT_ID}/oauth2/v2.0/token`,
      },
      form: (token: string) =>
        new URLSearchParams({
          client_id: CLIENT_ID,
          scope: 'https://management.azure.com/.default',
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: token,
        }).toString(),
    },
  } as const;

  const result: Record<string, unknown> = { samples: SAMPLES };
  for (const [name, cloud] of Object.entries(clouds)) {
    const exchange = async (url: string, token: string): Promise<number> => {
      const started = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: cloud.form(token),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${name} exchange at ${url} answered ${res.status}`);
      return performance.now() - started;
    };
    const base = name === 'aws' ? upstream.aws : upstream.entra;
    const proxy = name === 'aws' ? proxies.aws.url : proxies.entra.url;
    const ways: Array<[string, number[]]> = [
      [`${base}${cloud.path.direct}`, []],
      [`${serve.url}${cloud.path.broker}`, []],
      [`${proxy}${cloud.path.direct}`, []],
    ];
    const tokens = await Promise.all(
      Array.from({ length: SAMPLES + WARMUP }, (_, i) => sign(cloud.audience, i)),
    );
    for (const [i, token] of tokens.entries()) {
      for (let k = 0; k < ways.length; k++) {
        const [url, samples] = ways[(i + k) % ways.length]!;
        const ms = await exchange(url, token);
        if (i >= WARMUP) samples.push(ms);
      }
    }
    result[name] = {
      direct: percentiles(ways[0]![1]),
      broker: percentiles(ways[1]![1]),
      bareProxy: percentiles(ways[2]![1]),
    };
  }
  console.log(JSON.stringify(result));
} finally {
  await proxies.aws.close();
  await proxies.entra.close();
  await serve.stop();
  await upstream.close();
  await dir.remove();
}

/** cloud-upstream.ts in its own process. */
async function startCloudUpstream(issuerUrl: string) {
  const child = fork(
    new URL('./cloud-upstream.ts', import.meta.url),
    [issuerUrl, ROLE_ARN, TENANT_ID, CLIENT_ID],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const urls = await new Promise<{ aws: string; entra: string }>((resolve, reject) => {
    child.once('message', (msg) => resolve(msg as { aws: string; entra: string }));
    child.once('exit', (code) => reject(new Error(`the cloud fakes exited (${code})`)));
  });
  return {
    ...urls,
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      await exited;
    },
  };
}
