import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { ApiTarget } from '../../src/sync/api-target.js';
import { SyncFailure } from '../../src/sync/failure.js';
import { applicationDefaultCredentials } from '../../src/sync/google-credentials.js';
import { IamProviderClient } from '../../src/sync/iam-providers.js';
import { KubeIssuerSource, loadKubeConfig } from '../../src/sync/kube-source.js';
import { ProviderThenApiTarget } from '../../src/sync/provider-then-api-target.js';
import { syncCycle } from '../../src/sync/run.js';
import { WifProviderTarget } from '../../src/sync/wif-provider-target.js';
import type { FakeIamAdmin } from '../fakes/iam-admin.js';
import { PRIVATE_C1, startPrivateC1Sync, type PrivateC1Sync } from '../support/provider-google.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import type { SyncWorld } from '../support/sync.js';

interface View {
  version: number;
  mode: string;
  keys: Array<{ kid: string }>;
  keyEvents: Array<{ at: string; source: string; added: string[]; removed: string[] }>;
  lastKeyWrite: { at: string; source: string; provider?: string } | null;
}

/**
 * `idbridge sync --target wif-provider://… --api URL`: a `jwks-upload` cluster whose workloads go
 * through the broker. Each cycle writes the provider's uploaded keys first and only then pushes
 * the same key set to a real `idbridge serve`, so the registration API's keys and `lastKeyWrite`
 * follow the provider; a failed provider write pushes nothing. The fake Google verifies the sync
 * job's own token with the provider's uploaded keys, as Google does.
 */
describe('idbridge sync --target wif-provider://… --api', () => {
  const { provider, pool, syncPrincipal, target } = PRIVATE_C1;
  let googleSide: PrivateC1Sync;
  let world: SyncWorld;
  let iam: FakeIamAdmin;
  let credentials: string;

  const refreshGoogleToken = () => googleSide.refreshGoogleToken();
  const uploadedKids = () => googleSide.uploadedKids();
  const view = async (): Promise<View> => {
    const res = await world.api.call('GET', `/api/v1/clusters/${world.cluster}`);
    expect(res.status).toBe(200);
    return (res.json as { cluster: View }).cluster;
  };
  /** The pushes serve answered (its access log: method, path, status). */
  const pushes = () =>
    world.serve.logs.filter(
      (line) => line.includes('"msg":"request"') && line.includes(`/${world.cluster}/keys`),
    ).length;
  const sync = (flags: Record<string, string | undefined> = {}) =>
    world.sync(
      { target, attempts: '1', ...flags },
      { GOOGLE_APPLICATION_CREDENTIALS: credentials, IDBRIDGE_IAM_URL: iam.url },
    );

  beforeAll(async () => {
    googleSide = await startPrivateC1Sync();
    ({ world, iam, credentials } = googleSide);
  });
  afterAll(() => googleSide?.close());
  beforeEach(async () => {
    // A fresh registration and provider, both with the cluster's one key (gcp-setup --jwk-json-path).
    for (const key of [...world.kube.keys])
      if (key.kid !== world.kube.signingKey.kid) world.kube.removeKey(key.kid);
    await world.api.call('DELETE', `/api/v1/clusters/${world.cluster}`);
    const jwks = jwksOf(...world.kube.keys);
    const created = await world.api.call('POST', '/api/v1/clusters', {
      id: world.cluster,
      jwks,
      mode: 'jwks-upload',
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    // Its next steps name the provider and the sync, not a curl of an issuer that publishes nothing.
    const next = (created.json as { next: string[] }).next.join('\n');
    expect(next).toMatch(/publishes no documents for a jwks-upload cluster/);
    expect(next).toMatch(/--target wif-provider:\/\/PROVIDER --api URL/);
    expect(next).not.toMatch(/curl/);
    iam.providers.set(provider.path, {
      name: provider.path,
      oidc: { issuerUri: world.issuer, jwksJson: JSON.stringify(jwks) },
      attributeMapping: { 'google.subject': 'assertion.sub' },
      etag: 'etag-initial',
    });
    iam.revoke(syncPrincipal);
    iam.grant(syncPrincipal, 'roles/iam.workloadIdentityPoolAdmin', pool);
    await world.refreshTokens();
    await refreshGoogleToken();
  });

  it("a provider write is pushed after it is done: lastKeyWrite advances as 'provider-upload'", async () => {
    const before = await view();
    expect(before.lastKeyWrite).toMatchObject({ source: 'registration' });
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    iam.operateNext({ polls: 1 });
    const pushed = pushes();
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(uploadedKids()).toContain(added.kid);
    expect(pushes()).toBe(pushed + 1);
    const after = await view();
    expect(after.keys.map((k) => k.kid)).toEqual(uploadedKids());
    const last = after.keyEvents.at(-1)!;
    expect(after.keyEvents).toHaveLength(before.keyEvents.length + 1);
    expect(last).toMatchObject({ source: 'provider-upload', added: [added.kid], removed: [] });
    expect(after.lastKeyWrite).toEqual({
      at: last.at,
      source: 'provider-upload',
      provider: provider.path,
    });
    // Nothing changed since: both are read, nothing is written, the push records nothing.
    const again = await sync();
    expect(again.code, again.stderr).toBe(0);
    expect((await view()).version).toBe(after.version);
    world.kube.removeKey(added.kid);
  });

  it('a refused provider write (permission denied) pushes nothing and leaves lastKeyWrite as it was', async () => {
    iam.revoke(syncPrincipal);
    iam.grant(syncPrincipal, 'roles/iam.workloadIdentityPoolViewer', pool);
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    const before = await view();
    const pushed = pushes();
    const result = await sync();
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/refused to update provider .*PERMISSION_DENIED/);
    expect(pushes()).toBe(pushed);
    expect(uploadedKids()).not.toContain(added.kid);
    const after = await view();
    expect(after.version).toBe(before.version);
    expect(after.lastKeyWrite).toEqual(before.lastKeyWrite);
    expect(after.keys.map((k) => k.kid)).not.toContain(added.kid);
    world.kube.removeKey(added.kid);
  });

  it('a write operation that ends with an error pushes nothing either', async () => {
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    const before = await view();
    const pushed = pushes();
    iam.operateNext({ error: { code: 7, message: 'Permission denied on the provider.' } });
    const failed = await sync();
    expect(failed.code).toBe(4);
    expect(failed.stderr).toMatch(/\(operation .* failed\)/);
    expect(pushes()).toBe(pushed);
    expect((await view()).lastKeyWrite).toEqual(before.lastKeyWrite);
    world.kube.removeKey(added.kid);
  });

  it('the API follows what the provider holds: a one-step swap keeps the old key on both until the next cycle', async () => {
    const signer = world.kube.signingKey;
    const leaving = generateClusterKey('ES256');
    const arriving = generateClusterKey('ES256');
    const held = jwksOf(signer, leaving);
    await world.api.call('DELETE', `/api/v1/clusters/${world.cluster}`);
    await world.api.call('POST', '/api/v1/clusters', {
      id: world.cluster,
      jwks: held,
      mode: 'jwks-upload',
    });
    iam.setJwks(provider.path, JSON.stringify(held));
    world.kube.addKey(arriving);
    const first = await sync();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/stay on the provider until the next sync/);
    expect(uploadedKids()).toEqual([signer.kid, arriving.kid, leaving.kid]);
    expect((await view()).keys.map((k) => k.kid).sort()).toEqual(
      [signer.kid, arriving.kid, leaving.kid].sort(),
    );
    const second = await sync();
    expect(second.code, second.stderr).toBe(0);
    expect(uploadedKids()).toEqual([signer.kid, arriving.kid]);
    const after = await view();
    expect(after.keys.map((k) => k.kid)).toEqual([signer.kid, arriving.kid]);
    expect(after.keyEvents.at(-1)).toMatchObject({
      source: 'provider-upload',
      added: [],
      removed: [leaving.kid],
    });
    world.kube.removeKey(arriving.kid);
  });

  it('a write operation that never finishes pushes nothing: the cycle fails at the deadline (exit 5)', async () => {
    // The production parts, with the clock injected so the 60 s deadline passes at once.
    let at = 0;
    const google = await applicationDefaultCredentials(credentials);
    const target = new ProviderThenApiTarget(
      new WifProviderTarget({
        provider,
        client: new IamProviderClient({
          iamUrl: iam.url,
          accessToken: () => google.accessToken(),
          now: () => at,
          sleep: async (ms) => {
            at += ms;
          },
        }),
      }),
      new ApiTarget({
        apiUrl: world.serve.url,
        cluster: world.cluster,
        tokenFile: world.tokenFile,
        provider: provider.path,
      }),
    );
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    iam.operateNext({ never: true });
    const before = await view();
    const pushed = pushes();
    const failure = await syncCycle(
      {
        once: true,
        intervalMs: 60_000,
        jitter: 0,
        repushAfterMs: 0,
        retry: { attempts: 1, initialMs: 1, maxMs: 1 },
      },
      {
        source: new KubeIssuerSource(
          loadKubeConfig({ kubeconfig: world.kubeconfig, inCluster: false }),
        ),
        target,
        logger: silentLogger,
        sleep: async () => {},
        random: () => 0,
        now: () => at,
      },
    ).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SyncFailure);
    expect((failure as SyncFailure).exitCode).toBe(5);
    expect((failure as SyncFailure).message).toMatch(
      /was not done after 5\d s: the write may still land/,
    );
    expect(at).toBeLessThanOrEqual(60_000);
    expect(pushes()).toBe(pushed);
    expect(uploadedKids()).not.toContain(added.kid);
    expect((await view()).lastKeyWrite).toEqual(before.lastKeyWrite);
    world.kube.removeKey(added.kid);
  });

  it("a failing push keeps the API target's message and exit code; the next run catches up", async () => {
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    // A token for another audience: the API refuses it (401), after the provider was written.
    await writeFile(
      world.tokenFile,
      await world.pushToken({ audience: 'https://elsewhere.example' }),
    );
    const refused = await sync();
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/the registration API answered 401 unauthenticated/);
    expect(uploadedKids()).toContain(added.kid);
    expect((await view()).keys.map((k) => k.kid)).not.toContain(added.kid);
    await world.refreshTokens();
    const patches = iam.calls.patchProvider;
    const caught = await sync();
    expect(caught.code, caught.stderr).toBe(0);
    expect(iam.calls.patchProvider).toBe(patches);
    expect((await view()).lastKeyWrite).toMatchObject({
      source: 'provider-upload',
      provider: provider.path,
    });
    world.kube.removeKey(added.kid);
  });

  it('the issuer publishes no documents for a jwks-upload cluster: the 404 of an unknown cluster', async () => {
    const unknown = await fetch(`${world.serve.url}/nosuch-c9/openid/v1/jwks`);
    for (const path of ['/openid/v1/jwks', '/.well-known/openid-configuration']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(`${world.serve.url}/${world.cluster}${path}`, { method });
        expect(res.status).toBe(404);
        expect(res.headers.get('cache-control')).toBe(unknown.headers.get('cache-control'));
      }
    }
    const body = (await (
      await fetch(`${world.serve.url}/${world.cluster}/openid/v1/jwks`)
    ).json()) as {
      error: { code: string; message: string };
    };
    const unknownBody = (await unknown.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(unknownBody.error.code);
    expect(body.error.message.replace(world.cluster, 'X')).toBe(
      unknownBody.error.message.replace('nosuch-c9', 'X'),
    );
    // Declared a provider-mode cluster again, it is published at once.
    const patched = await world.api.call('PATCH', `/api/v1/clusters/${world.cluster}`, {
      mode: 'provider',
    });
    expect(patched.status).toBe(200);
    expect(await world.published()).toEqual({ keys: world.kube.keys.map((k) => k.jwk) });
  });

  it('a push reporting a provider upload for a cluster not declared jwks-upload is recorded, with a warning', async () => {
    await world.api.call('PATCH', `/api/v1/clusters/${world.cluster}`, { mode: 'provider' });
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /registered with mode \\"provider\\", but these keys were written to provider .*--mode jwks-upload/,
    );
    expect((await view()).lastKeyWrite).toMatchObject({ source: 'provider-upload' });
    world.kube.removeKey(added.kid);
  });
});
