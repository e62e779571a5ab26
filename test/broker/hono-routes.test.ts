import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerFromConfig } from '../../src/broker/broker.js';
import { loadConfig } from '../../src/config/config.js';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { createApp } from '../../src/app/app.js';
import { clusterRecords } from '../../src/registry/record-cache.js';
import { RegistryDocuments } from '../../src/issuer/registry-documents.js';
import { silentLogger } from '../../src/log/logger.js';
import { validateJwks } from '../../src/oidc/jwks.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { ClusterRegistry } from '../../src/registry/registry.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { generateClusterKey, signKubeToken } from '../support/keys.js';
import { freePort } from '../support/net.js';

/**
 * The broker as hosts without idbridge's Node fast path see it (the Cloud Functions host):
 * createApp's hono routes alone, behind a plain adapter.
 */
describe("broker through createApp's hono routes", () => {
  const provider = parseProvider(
    'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
  );
  const key = generateClusterKey('ES256');
  let google: FakeGoogle;
  let server: ServerType;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    google = await startFakeGoogle({
      providers: [{ path: provider.path, issuerUri: `${url}/c1` }],
    });
    const config = loadConfig({
      IDBRIDGE_STS_URL: google.url,
      IDBRIDGE_IAMCREDENTIALS_URL: google.url,
      PORT: String(port),
    });
    const store = new MemoryStore();
    const registry = new ClusterRegistry(store, { publicUrl: config.publicUrl });
    const documents = new RegistryDocuments(clusterRecords(store));
    registry.onChange((id) => documents.invalidate(id));
    await registry.create({
      id: 'c1',
      syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
      jwks: await validateJwks({ keys: [key.jwk] }),
    });
    const app = createApp({
      registry,
      documents,
      syncAudience: config.syncAudience,
      logger: silentLogger,
      broker: brokerFromConfig(config, registry, silentLogger),
    });
    server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    expect((server.address() as AddressInfo).port).toBe(port);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await google?.close();
  });

  const tokenForm = (subjectToken: string) =>
    new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: provider.audience,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
  const post = (
    path: string,
    body: string | URLSearchParams | ReadableStream<Uint8Array>,
    headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' },
  ) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers,
      body,
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);

  it('exchanges a token', async () => {
    const res = await post(
      '/v1/token',
      tokenForm(await signKubeToken(key, { issuer: `${url}/c1`, audience: provider.audience })),
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { access_token: string }).access_token).toMatch(/^ya29\.fed\./);
  });

  it('refuses a body over 64 KiB, declared or streamed, in the STS shape', async () => {
    const declared = await post('/v1/token', tokenForm('a'.repeat(300_000)));
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(/larger than 64 KiB/),
    });
    const chunk = new TextEncoder().encode('a'.repeat(16_384));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const streamed = await post('/v1/token', stream);
    expect(streamed.status).toBe(413);
    expect(google.calls.token).toBe(1);
  });

  it("answers IAM refusals in the IAM shape, other methods with 405, other paths with idbridge's 404", async () => {
    const iam = await post(
      '/v1/projects/-/serviceAccounts/app@proj.iam.gserviceaccount.com:generateAccessToken',
      '{"scope":["s"]}',
      { 'content-type': 'application/json' },
    );
    expect(iam.status).toBe(401);
    expect(((await iam.json()) as { error: { status: string } }).error.status).toBe(
      'UNAUTHENTICATED',
    );
    const get = await fetch(`${url}/v1/introspect`);
    expect(get.status).toBe(405);
    expect(((await get.json()) as { error: string }).error).toBe('invalid_request');
    const other = await post('/v1/other', 'x');
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
