import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAdminApiContract, type ApiHost } from '../contract/admin-api-contract.js';
import { describeHostileApiInputs } from '../contract/hostile-api-contract.js';
import { describeIssuerContract, type IssuerHost } from '../contract/issuer-contract.js';
import { adminApiHost } from '../support/contract-hosts.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { startServe } from '../support/serve.js';

/** `idbridge serve` on the GCS store (the fake GCS JSON API), seen through its own admin API. */
async function serveOnGcs(): Promise<IssuerHost & ApiHost & { gcs: GcsHarness; bucket: string }> {
  const gcs = await startGcsHarness();
  const bucket = await gcs.newBucket();
  const harness = await startServe({
    IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
    IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
  });
  return {
    ...adminApiHost({
      url: harness.url,
      publicUrl: harness.url,
      adminToken: harness.adminToken,
      close: async () => {
        await harness.close();
        await gcs.close();
      },
    }),
    gcs,
    bucket,
  };
}

describeIssuerContract('idbridge serve (GCS store)', serveOnGcs);
describeAdminApiContract('idbridge serve (GCS store)', serveOnGcs);
describeHostileApiInputs('idbridge serve (GCS store)', serveOnGcs);

describe('idbridge serve (GCS store): the bucket layout', () => {
  let host: Awaited<ReturnType<typeof serveOnGcs>>;
  beforeAll(async () => {
    host = await serveOnGcs();
  });
  afterAll(async () => {
    await host?.close();
  });

  it('holds the same bytes and headers in the bucket as the issuer routes serve, and removes them on delete', async () => {
    const key = generateClusterKey('ES256');
    await host.publishCluster('layout-c1', jwksOf(key));
    for (const path of ['layout-c1/.well-known/openid-configuration', 'layout-c1/openid/v1/jwks']) {
      const served = await fetch(`${host.url}/${path}`);
      const fromBucket = await fetch(`${host.gcs.gcs.url}/${host.bucket}/issuers/${path}`);
      expect(fromBucket.status).toBe(200);
      for (const header of ['content-type', 'cache-control'])
        expect(fromBucket.headers.get(header), header).toBe(served.headers.get(header));
      expect(
        Buffer.from(await fromBucket.arrayBuffer()).equals(Buffer.from(await served.arrayBuffer())),
      ).toBe(true);
    }
    const res = await fetch(`${host.url}/api/v1/clusters/layout-c1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${host.adminToken}` },
    });
    expect(res.status).toBe(204);
    expect(host.gcs.gcs.objectNames(host.bucket, 'issuers/layout-c1/')).toEqual([]);
  });

  it('is not ready while GCS fails, and ready again after', async () => {
    host.gcs.gcs.fail({ status: 403, count: 1, when: ({ method }) => method === 'GET' });
    const res = await fetch(`${host.url}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /roles\/storage.objectAdmin/,
    );
    expect((await fetch(`${host.url}/readyz`)).status).toBe(200);
  });
});
