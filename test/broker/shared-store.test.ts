import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';
import { postStsExchange } from '../support/sts.js';

/**
 * Two servers on one file store: the broker of one sees the other's registrations and key
 * changes without restarting (its record cache re-reads within a second), and never reads the
 * store per exchange.
 */
describe('broker sharing a store with another process', () => {
  const provider = parseProvider(
    'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
  );
  const key = generateClusterKey('RS256');
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let google: FakeGoogle;
  let writer: ServeHarness;
  let broker: ServeHarness;

  beforeAll(async () => {
    dir = await tempDir();
    google = await startFakeGoogle();
    const env = {
      IDBRIDGE_STORE: `file:${dir.path}`,
      IDBRIDGE_STS_URL: google.url,
      IDBRIDGE_IAMCREDENTIALS_URL: google.url,
    };
    writer = await startServe(env);
    broker = await startServe(env);
    google.providers.push({ path: provider.path, issuerUri: `${writer.url}/c1` });
  });
  afterAll(async () => {
    await broker?.close();
    await writer?.close();
    await google?.close();
    await dir?.remove();
  });

  const admin = (method: string, path: string, body: unknown) =>
    fetch(`${writer.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${writer.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const exchange = async (token: string) => {
    const res = await postStsExchange(broker.url, token, provider.audience);
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };
  const token = () =>
    signKubeToken(key, { issuer: `${writer.url}/c1`, audience: provider.audience });

  it('finds a cluster registered by the other process at once, and sees its key removal within seconds', async () => {
    expect((await exchange(await token())).body.error_description).toMatch(
      /not a cluster registered/,
    );
    expect((await admin('POST', '/api/v1/clusters', { id: 'c1', jwks: jwksOf(key) })).status).toBe(
      201,
    );
    // An unknown cluster is not remembered as unknown for long: the next exchange finds it.
    const deadline = Date.now() + 5_000;
    let found = await exchange(await token());
    while (found.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      found = await exchange(await token());
    }
    expect(found.status).toBe(200);

    expect(
      (
        await admin('PUT', '/api/v1/clusters/c1/keys', {
          jwks: jwksOf(generateClusterKey('RS256')),
        })
      ).status,
    ).toBe(200);
    // Until the broker re-reads the record it still forwards the token (and Google refuses it).
    const refusedByBroker = (answer: { body: Record<string, string> }) =>
      /published keys/.test(answer.body.error_description ?? '');
    let refused = await exchange(await token());
    while (!refusedByBroker(refused) && Date.now() < deadline + 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      refused = await exchange(await token());
    }
    expect(refused.body.error_description).toMatch(/not among cluster c1's published keys/);
  });
});
