import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAdminApiContract, type ApiHost } from '../contract/admin-api-contract.js';
import { describeBrokerContract } from '../contract/broker-contract.js';
import { describeHostileApiInputs } from '../contract/hostile-api-contract.js';
import { describeIssuerContract, type IssuerHost } from '../contract/issuer-contract.js';
import { adminApiHost } from '../support/contract-hosts.js';
import { startFunctionsHost, type FunctionsHost } from '../support/functions.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { startSyncWorld } from '../support/sync.js';

const ADMIN_TOKEN = 'functions-admin-token-0123456789';
const PUBLIC_URL = 'https://edge.example';

/** The Cloud Function on the GCS store (fake GCS), seen through its own admin API. */
async function functionOnGcs(): Promise<
  IssuerHost & ApiHost & { fn: FunctionsHost; gcs: GcsHarness; bucket: string }
> {
  const gcs = await startGcsHarness();
  const bucket = await gcs.newBucket();
  const fn = await startFunctionsHost({
    IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
    IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
    IDBRIDGE_PUBLIC_URL: PUBLIC_URL,
    IDBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  return {
    ...adminApiHost({
      url: fn.url,
      publicUrl: PUBLIC_URL,
      adminToken: ADMIN_TOKEN,
      close: async () => {
        await fn.close();
        await gcs.close();
      },
    }),
    fn,
    gcs,
    bucket,
  };
}

describeIssuerContract('Cloud Function (GCS store)', functionOnGcs);
describeAdminApiContract('Cloud Function (GCS store)', functionOnGcs);
// The Functions Framework parses bodies before the function runs; what it cannot parse still
// reaches the app (answerFrameworkRefusals), so every case is answered as `serve` answers it.
describeHostileApiInputs('Cloud Function (GCS store)', functionOnGcs);

// The broker through hono (no fast path on Functions), with the same answers as on serve.
describeBrokerContract('Cloud Function (hono, GCS store)', async (env) => {
  const gcs = await startGcsHarness();
  const bucket = await gcs.newBucket();
  const port = await freePort();
  // The fake Google fetches the issuer documents from the function itself.
  const url = `http://127.0.0.1:${port}`;
  const fn = await startFunctionsHost(
    {
      IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
      IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
      IDBRIDGE_PUBLIC_URL: url,
      IDBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
      ...env,
    },
    port,
  );
  return {
    url: fn.url,
    adminToken: ADMIN_TOKEN,
    close: async () => {
      await fn.close();
      await gcs.close();
    },
  };
});

describe('Cloud Function host', () => {
  let host: Awaited<ReturnType<typeof functionOnGcs>>;
  beforeAll(async () => {
    host = await functionOnGcs();
  });
  afterAll(async () => {
    await host?.close();
  });

  it('hands the app the untouched body bytes, whatever the framework parsed', async () => {
    const key = generateClusterKey('RS256');
    // Unusual but valid JSON: whitespace, unicode escapes, a duplicated member (last one wins).
    const raw = `{ "id" : "raw-bytes", "id": "raw\\u002dbytes",\n "jwks": ${JSON.stringify(jwksOf(key))} }`;
    const res = await fetch(`${host.url}/api/v1/clusters`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        'content-type': 'application/json; charset=utf-8',
      },
      body: raw,
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { cluster: { id: string } }).cluster.id).toBe('raw-bytes');
  });

  it('writes JSON log lines with a Cloud Logging severity and no secrets', async () => {
    await fetch(`${host.url}/api/v1/clusters`, {
      headers: { authorization: 'Bearer wrong-token-but-long-enough-to-look-real' },
    });
    // A key change is logged (who, what was added and removed).
    const res = await fetch(`${host.url}/api/v1/clusters/raw-bytes/keys`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jwks: jwksOf(generateClusterKey('ES256')) }),
    });
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = host.fn
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('severity');
    expect(lines.some((l) => JSON.parse(l).msg === 'cluster keys changed')).toBe(true);
    expect(host.fn.output()).not.toContain(ADMIN_TOKEN);
    expect(host.fn.output()).not.toContain('wrong-token-but-long-enough-to-look-real');
  });
});

describe('Cloud Function host: sync push from a cluster', () => {
  it("accepts the cluster's own token and publishes into the bucket layout", async () => {
    // The cluster world's idbridge is `serve`; here the function on the same bucket takes the push.
    const world = await startSyncWorld('gcs', 'fn-c1');
    const fn = await startFunctionsHost({
      IDBRIDGE_STORE: `gcs://${world.gcs!.bucket}/issuers`,
      IDBRIDGE_GCS_ENDPOINT: world.gcs!.gcs.url,
      // Same public URL and sync audience as the serve host, so both compute the same issuer.
      IDBRIDGE_PUBLIC_URL: world.serve.url,
      IDBRIDGE_ADMIN_TOKEN: world.serve.adminToken,
    });
    try {
      await world.register();
      const next = generateClusterKey('ES256');
      world.kube.addKey(next);
      const result = await world.sync({ api: fn.url });
      expect(result.code, result.stderr).toBe(0);
      const fromBucket = await (
        await fetch(`${world.gcs!.gcs.url}/${world.gcs!.bucket}/issuers/fn-c1/openid/v1/jwks`)
      ).json();
      expect(fromBucket).toEqual({ keys: world.kube.keys.map((k) => k.jwk) });
      expect(await (await fetch(`${fn.url}/fn-c1/openid/v1/jwks`)).json()).toEqual(fromBucket);
    } finally {
      await fn.close();
      await world.close();
    }
  });
});
