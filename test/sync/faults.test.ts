import { readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFlakyProxy, type FlakyProxy } from '../support/flaky-proxy.js';
import { freePort } from '../support/net.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { startSyncWorld, type SyncWorld } from '../support/sync.js';

/** Faults on every side of `idbridge sync`: it retries or exits cleanly, and never publishes a bad JWKS. */
describe('idbridge sync under faults', () => {
  let world: SyncWorld;
  let proxy: FlakyProxy;
  let version: number;

  beforeAll(async () => {
    world = await startSyncWorld('memory');
    await world.register();
    proxy = await startFlakyProxy(world.serve.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await world?.close();
  });
  afterEach(() => {
    world.kube.fault('none');
    proxy.fail(0, 0);
  });

  const recordVersion = async () =>
    (await world.api.call('GET', `/api/v1/clusters/${world.cluster}`)).json.cluster
      .version as number;
  const unchanged = async () => {
    expect(await recordVersion()).toBe(version);
    expect(await world.published()).toEqual({ keys: world.kube.keys.map((k) => k.jwk) });
  };

  beforeAll(async () => {
    version = await recordVersion();
  });

  type Case = {
    name: string;
    arrange: () => void | Promise<void>;
    flags?: Record<string, unknown>;
    code: number;
    stderr: RegExp;
    retried?: boolean;
  };
  const cases: Case[] = [
    {
      name: 'kube-apiserver down',
      arrange: () => world.kube.fault('reset'),
      code: 5,
      stderr: /cannot reach the kube-apiserver at https:\/\/127\.0\.0\.1:\d+ \(ECONNRESET\)/,
      retried: true,
    },
    {
      name: 'kube-apiserver answering 500',
      arrange: () => world.kube.fault('error'),
      code: 5,
      stderr:
        /answered \/\.well-known\/openid-configuration with 500|answered \/openid\/v1\/jwks with 500/,
      retried: true,
    },
    // A garbled answer is an availability fault (a proxy in the way), so 5: the CronJob retries it.
    {
      name: 'kube-apiserver answering an HTML page',
      arrange: () => world.kube.fault('garbage'),
      code: 5,
      stderr: /something that is not JSON \(content-type "text\/html"\); nothing was pushed/,
      retried: true,
    },
    {
      name: 'kube-apiserver answering over 1 MiB',
      arrange: () => world.kube.fault('oversized'),
      code: 5,
      stderr:
        /answer to \/(\.well-known\/openid-configuration|openid\/v1\/jwks) is larger than 1024 KiB; that is not an issuer document/,
      retried: true,
    },
    {
      name: 'kube-apiserver serving an empty JWKS',
      arrange: () => world.kube.fault('empty-jwks'),
      code: 3,
      stderr: /cannot be published, nothing was pushed: .*key set is empty/,
    },
    {
      name: 'kube-apiserver serving private key material',
      arrange: () => world.kube.fault('private-jwks'),
      code: 3,
      stderr: /private key material/,
    },
    {
      name: 'registration API down',
      arrange: async () => {},
      flags: { api: 'DEADPORT' },
      code: 5,
      stderr: /cannot reach the registration API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      retried: true,
    },
    {
      name: 'registration API behind a gateway answering 502',
      arrange: () => proxy.fail(502),
      flags: { api: 'PROXY' },
      code: 5,
      stderr: /answered 502 with a body that is not idbridge's JSON/,
      retried: true,
    },
    {
      name: 'registration API resetting connections',
      arrange: () => proxy.fail(0),
      flags: { api: 'PROXY' },
      code: 5,
      stderr: /cannot reach the registration API/,
      retried: true,
    },
    {
      name: 'token file missing',
      arrange: async () => {},
      flags: { tokenFile: '/nonexistent/token' },
      code: 2,
      stderr:
        /cannot read the token file \/nonexistent\/token \(ENOENT\): mount a projected ServiceAccount token/,
    },
    {
      name: 'token file not a JWT',
      arrange: async () => writeFile(`${world.dir}/not-a-token`, 'hello'),
      flags: { tokenFile: 'DIR/not-a-token' },
      code: 2,
      stderr: /does not hold a JWT/,
    },
    {
      name: 'kubeconfig missing',
      arrange: async () => {},
      flags: { kubeconfig: '/nonexistent/kubeconfig' },
      code: 2,
      stderr: /cannot load the kubeconfig \/nonexistent\/kubeconfig/,
    },
    {
      name: "the cluster's issuer differs from the registered one (checked here with --issuer)",
      arrange: async () => {
        world.kube.issuer = 'https://kubernetes.default.svc.cluster.local';
        await world.refreshTokens();
      },
      flags: { issuer: 'ISSUER' },
      code: 3,
      stderr:
        /start the kube-apiserver with --service-account-issuer=http:\/\/127\.0\.0\.1:\d+\/prod/,
    },
  ];

  it.each(cases)('$name → exit $code', async (c) => {
    await c.arrange();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const placeholders: Record<string, string> = {
      PROXY: proxy.url,
      ISSUER: world.issuer,
      DEADPORT: dead,
    };
    const flags = Object.fromEntries(
      Object.entries(c.flags ?? {}).map(([k, v]) => [
        k,
        typeof v === 'string' ? (placeholders[v] ?? v.replace('DIR', world.dir)) : v,
      ]),
    );
    const result = await world.sync({ attempts: '3', ...flags });
    try {
      expect(result.code, result.stderr).toBe(c.code);
      expect(result.stderr).toMatch(c.stderr);
      // One line an operator can act on.
      expect(result.stderr.trim().split('\n').length).toBeLessThanOrEqual(1);
      if (c.retried) expect(result.stdout.match(/sync attempt failed; retrying/g)).toHaveLength(2);
      else expect(result.stdout).not.toMatch(/retrying/);
      await unchanged();
    } finally {
      if (world.kube.issuer !== world.issuer) {
        world.kube.issuer = world.issuer;
        await world.refreshTokens();
      }
    }
  });

  it('refuses a cluster whose issuer is wrong at the API too, naming the apiserver flag', async () => {
    world.kube.issuer = 'https://kubernetes.default.svc.cluster.local';
    await world.refreshTokens();
    try {
      const result = await world.sync({ attempts: '1' });
      expect(result.code).toBe(4);
      expect(result.stderr).toMatch(
        /set --service-account-issuer=http:\/\/127\.0\.0\.1:\d+\/prod on the kube-apiserver/,
      );
      await unchanged();
    } finally {
      world.kube.issuer = world.issuer;
      await world.refreshTokens();
    }
  });

  it('rides out a transient outage on either side and then pushes', async () => {
    world.kube.fault('reset', 2);
    proxy.fail(503, 2);
    world.kube.addKey(generateClusterKey('ES256'));
    const result = await world.sync({ api: proxy.url, attempts: '5' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.match(/sync attempt failed; retrying/g)).toHaveLength(3);
    expect(await world.published()).toEqual({ keys: world.kube.keys.map((k) => k.jwk) });
    version = await recordVersion();
  });

  it('never logs the tokens it sends', async () => {
    const result = await world.sync({ api: proxy.url });
    const token = await readFile(world.tokenFile, 'utf8');
    expect(result.stdout + result.stderr).not.toContain(token.split('.')[2]);
  });

  it('exits 2 with one line when started outside a pod without a kubeconfig', async () => {
    const result = await world.sync({ kubeconfig: undefined });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not running in a pod \(KUBERNETES_SERVICE_HOST is not set\)/);
    await rm(`${world.dir}/not-a-token`, { force: true });
  });

  it('exits 4 naming the ClusterRole when RBAC forbids reading the issuer documents', async () => {
    world.kube.forbid('system:serviceaccount:idbridge-sync:idbridge-sync');
    const result = await world.sync();
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(
      /403 Forbidden: bind the ClusterRole system:service-account-issuer-discovery/,
    );
    await unchanged();
  });
});

describe('idbridge sync when the old key is dropped too early', () => {
  it('is refused by the API (it would lock the cluster out) and changes nothing', async () => {
    const world = await startSyncWorld('memory');
    try {
      await world.register();
      const old = world.kube.signingKey;
      const before = await world.api.call('GET', `/api/v1/clusters/${world.cluster}`);
      // The kube-apiserver switched keys and dropped the old one before the new one was published;
      // kubelet has not refreshed the pod's projected token yet, so the push is still signed by the old key.
      const next = generateClusterKey('RS256');
      world.kube.addKey(next);
      world.kube.setSigningKey(next);
      world.kube.removeKey(old.kid);
      const staleToken = await readFile(world.tokenFile, 'utf8');
      await world.refreshTokens();
      await writeFile(world.tokenFile, staleToken);
      const result = await world.sync({ attempts: '1' });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /does not contain key .* which signed this request: publishing it would lock cluster prod out/,
      );
      expect(await world.published()).toEqual(jwksOf(old));
      expect((await world.api.call('GET', `/api/v1/clusters/${world.cluster}`)).json).toEqual(
        before.json,
      );
    } finally {
      await world.close();
    }
  });
});
