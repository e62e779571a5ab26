import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ID, startCloudStack, TENANT_ID, type CloudStack } from '../support/cloud-stack.js';

/** The fake Entra ID on its own: it judges federated assertions as Entra does, in its JSON shapes. */
describe('fake Entra ID', () => {
  let stack: CloudStack;
  beforeAll(async () => {
    stack = await startCloudStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const request = async (
    assertion: string,
    extra: Record<string, string> = {},
    tenant = TENANT_ID,
  ) => {
    const res = await fetch(`${stack.entra.httpUrl}/${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'client-request-id': '0b9f1d2e-0000-4000-8000-000000000001',
      },
      body: new URLSearchParams({
        client_id: CLIENT_ID,
        scope: 'https://management.azure.com/.default',
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
        ...extra,
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('issues an access token for an assertion its federated credential matches', async () => {
    const { status, body } = await request(await stack.token('azure'));
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(await stack.entra.verifyAccessToken(body.access_token)).toMatchObject({
      appid: CLIENT_ID,
      tid: TENANT_ID,
    });
  });

  it.each([
    [
      'an unknown issuer',
      () => stack.token('azure', { issuer: 'https://127.0.0.1:1/x' }),
      {},
      'invalid_request',
      700211,
    ],
    [
      'another audience',
      () => stack.token('azure', { audience: 'sts.amazonaws.com' }),
      {},
      'invalid_request',
      700212,
    ],
    [
      'another subject',
      () => stack.token('azure', { namespace: 'other' }),
      {},
      'invalid_request',
      700213,
    ],
    [
      'an expired assertion',
      () => stack.token('azure', { issuedAt: now() - 7200, lifetime: 3600 }),
      {},
      'invalid_client',
      700024,
    ],
    [
      'an unknown app',
      () => stack.token('azure'),
      { client_id: '11111111-2222-3333-4444-555555555555' },
      'unauthorized_client',
      700016,
    ],
    [
      'a scope without /.default',
      () => stack.token('azure'),
      { scope: 'https://management.azure.com/user_impersonation' },
      'invalid_scope',
      1002012,
    ],
  ])('refuses %s as Entra does', async (_name, make, extra, error, code) => {
    const { status, body } = await request(await make(), extra);
    expect(status).toBe(400);
    expect(body).toMatchObject({
      error,
      error_codes: [code],
      correlation_id: '0b9f1d2e-0000-4000-8000-000000000001',
    });
    expect(body.error_description).toMatch(new RegExp(`^AADSTS${code}: `));
  });

  it('refuses an unknown tenant and serves discovery for a known one', async () => {
    const { body } = await request(
      await stack.token('azure'),
      {},
      '00000000-0000-0000-0000-000000000000',
    );
    expect(body.error_codes).toEqual([90002]);
    const discovery = (await (
      await fetch(`${stack.entra.httpUrl}/${TENANT_ID}/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    expect(discovery.token_endpoint).toBe(`${stack.entra.httpUrl}/${TENANT_ID}/oauth2/v2.0/token`);
  });
});
