import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../support/functions.js';
import { FLEET_PROVIDER } from './stack.js';

/** The Cloud Function (the real functions-framework entry) publishes the fleet issuer too. */
describe('the fleet issuer on the Cloud Function', () => {
  let host: FunctionsHost;
  beforeAll(async () => {
    host = await startFunctionsHost({
      IDBRIDGE_STORE: 'memory:',
      IDBRIDGE_PUBLIC_URL: 'https://idbridge.example.com',
      IDBRIDGE_ADMIN_TOKEN: 'test-admin-token-0123456789',
      IDBRIDGE_FLEET_PROVIDER: FLEET_PROVIDER,
    });
  }, 60_000);
  afterAll(async () => {
    await host?.close();
  });

  it('serves /_fleet discovery and JWKS with the public URL as issuer, HEAD and 304 included', async () => {
    const discovery = await fetch(`${host.url}/_fleet/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({
      issuer: 'https://idbridge.example.com/_fleet',
      jwks_uri: 'https://idbridge.example.com/_fleet/openid/v1/jwks',
    });
    const jwks = await fetch(`${host.url}/_fleet/openid/v1/jwks`);
    const etag = jwks.headers.get('etag')!;
    const { keys } = (await jwks.json()) as { keys: Array<Record<string, unknown>> };
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toHaveProperty('d');
    const again = await fetch(`${host.url}/_fleet/openid/v1/jwks`, {
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
    expect((await fetch(`${host.url}/_fleet/openid/v1/jwks`, { method: 'HEAD' })).status).toBe(200);
    // Nothing else under the reserved segment, and no cluster may take it.
    expect((await fetch(`${host.url}/_fleet/other`)).status).toBe(404);
    const taken = await fetch(`${host.url}/api/v1/clusters`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer test-admin-token-0123456789',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ id: '_fleet' }),
    });
    expect(taken.status).toBe(400);
  });
});
