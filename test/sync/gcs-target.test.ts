import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { generateClusterKey } from '../support/keys.js';
import { startSyncWorld, type SyncWorld } from '../support/sync.js';

/** `idbridge sync --target gcs://BUCKET/PREFIX`: the bucket itself serves as the cluster's issuer. */
describe('idbridge sync --target gcs://', () => {
  let world: SyncWorld;
  let target: string;
  let env: Record<string, string>;
  let bucketIssuer: string;

  beforeAll(async () => {
    world = await startSyncWorld('gcs', 'edge1');
    target = `gcs://${world.gcs!.bucket}/direct`;
    env = { IDBRIDGE_GCS_ENDPOINT: world.gcs!.gcs.url };
    // The fake's public object URL plays storage.googleapis.com: the issuer is the bucket URL.
    bucketIssuer = `${world.gcs!.gcs.url}/${world.gcs!.bucket}/direct/edge1`;
    world.kube.issuer = bucketIssuer;
    await world.refreshTokens();
  });
  afterAll(async () => {
    await world?.close();
  });

  const sync = (flags: Record<string, string | undefined> = {}) =>
    world.sync(
      {
        api: undefined,
        tokenFile: undefined,
        target,
        issuer: bucketIssuer,
        attempts: '2',
        ...flags,
      },
      env,
    );

  it('writes the public layout, which verifies a cluster token as an issuer', async () => {
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(world.gcs!.gcs.objectNames(world.gcs!.bucket, 'direct/')).toEqual([
      'direct/edge1/.well-known/openid-configuration',
      'direct/edge1/openid/v1/jwks',
    ]);
    const discovery = await fetch(`${bucketIssuer}/.well-known/openid-configuration`);
    expect(discovery.headers.get('content-type')).toBe('application/json');
    expect(discovery.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await discovery.json()).toMatchObject({
      issuer: bucketIssuer,
      jwks_uri: `${bucketIssuer}/openid/v1/jwks`,
    });
    const jwks = await fetch(`${bucketIssuer}/openid/v1/jwks`);
    expect(jwks.headers.get('content-type')).toBe('application/jwk-set+json');
    const token = await world.kube.issueToken({
      namespace: 'apps',
      serviceAccount: 'web',
      audience: 'sts.googleapis.com',
    });
    const { payload } = await jwtVerify(
      token,
      createRemoteJWKSet(new URL(`${bucketIssuer}/openid/v1/jwks`)),
      { issuer: bucketIssuer, audience: 'sts.googleapis.com' },
    );
    expect(payload.sub).toBe('system:serviceaccount:apps:web');
  });

  it('writes nothing when nothing changed, and only what changed after a rotation step', async () => {
    world.gcs!.gcs.resetStats();
    expect((await sync()).code).toBe(0);
    expect(world.gcs!.gcs.stats().objectWrites).toBe(0);
    world.kube.addKey(generateClusterKey('ES256'));
    const result = await sync();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/published new keys/);
    expect(world.gcs!.gcs.stats().objectWrites).toBe(2);
    expect(await (await fetch(`${bucketIssuer}/openid/v1/jwks`)).json()).toEqual({
      keys: world.kube.keys.map((k) => k.jwk),
    });
  });

  it('never publishes an empty JWKS', async () => {
    world.kube.fault('empty-jwks');
    world.gcs!.gcs.resetStats();
    try {
      const result = await sync();
      expect(result.code).toBe(3);
      expect(world.gcs!.gcs.stats().objectWrites).toBe(0);
      expect(
        ((await (await fetch(`${bucketIssuer}/openid/v1/jwks`)).json()) as { keys: unknown[] }).keys
          .length,
      ).toBeGreaterThan(0);
    } finally {
      world.kube.fault('none');
    }
  });

  it('retries a lost generation race (412) and a GCS 503', async () => {
    world.kube.addKey(generateClusterKey('ES256'));
    world.gcs!.gcs.fail({
      status: 412,
      count: 1,
      when: ({ method, object }) => method === 'POST' && object?.endsWith('/jwks') === true,
    });
    world.gcs!.gcs.fail({
      status: 503,
      count: 1,
      when: ({ method, object }) =>
        method === 'POST' && object?.endsWith('openid-configuration') === true,
    });
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(await (await fetch(`${bucketIssuer}/openid/v1/jwks`)).json()).toEqual({
      keys: world.kube.keys.map((k) => k.jwk),
    });
  });

  it('exits 4 when the bucket refuses access, and 5 when GCS is unreachable', async () => {
    world.kube.addKey(generateClusterKey('ES256'));
    world.gcs!.gcs.fail({ status: 403, count: 1, when: ({ method }) => method === 'POST' });
    const denied = await sync();
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/roles\/storage.objectAdmin/);
    const down = await world.sync(
      { api: undefined, tokenFile: undefined, target, issuer: bucketIssuer, attempts: '2' },
      { IDBRIDGE_GCS_ENDPOINT: `http://127.0.0.1:${await freePort()}` },
    );
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/Cloud Storage is not reachable/);
  });

  it('refuses to write into a prefix an idbridge registry manages', async () => {
    // The registry of this world (serve on gcs://BUCKET/issuers) owns issuers/….
    await world.register();
    world.kube.issuer = `${world.gcs!.gcs.url}/${world.gcs!.bucket}/issuers/edge1`;
    await world.refreshTokens();
    const result = await sync({
      target: `gcs://${world.gcs!.bucket}/issuers`,
      issuer: world.kube.issuer,
    });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/is managed by an idbridge registry .* push with --api/);
  });
});
