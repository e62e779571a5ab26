import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startFakeGoogle } from '../fakes/google.js';
import { spawnServe, tempDir } from '../support/serve.js';
import { SERVICE_ACCOUNT, startBrokerStack, type BrokerStack } from './stack.js';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

/** Calls the two relayed APIs with `bearer`; the answers and how many calls Google saw. */
function relayClient(stack: () => BrokerStack) {
  return {
    iam: (method: 'generateAccessToken' | 'generateIdToken', bearer: string) =>
      fetch(`${stack().serve.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify(
          method === 'generateAccessToken'
            ? { scope: [CLOUD_PLATFORM] }
            : { audience: 'https://run.example' },
        ),
      }),
    introspect: (token: string) =>
      fetch(`${stack().serve.url}/v1/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      }),
    federatedToken: async (subjectToken?: string) => {
      const res = await stack().exchange(
        stack().tokenForm(subjectToken ?? (await stack().token())),
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    },
    upstreamCalls: () => ({ ...stack().google.calls }),
  };
}

describe('broker relay: only bearers this broker issued (the default)', () => {
  let stack: BrokerStack;
  const client = relayClient(() => stack);
  beforeAll(async () => {
    stack = await startBrokerStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('defaults to issued', () => {
    expect(loadConfig({}).brokerRelay).toBe('issued');
    expect(loadConfig({ IDBRIDGE_BROKER_RELAY: 'any' }).brokerRelay).toBe('any');
    expect(() => loadConfig({ IDBRIDGE_BROKER_RELAY: 'some' })).toThrow(
      /invalid configuration: IDBRIDGE_BROKER_RELAY: IDBRIDGE_BROKER_RELAY must be "issued" or "any"/,
    );
  });

  it.each(['generateAccessToken', 'generateIdToken'] as const)(
    'refuses %s with a bearer it did not issue: 401 UNAUTHENTICATED, nothing sent to Google',
    async (method) => {
      const before = client.upstreamCalls();
      const res = await client.iam(method, 'ya29.someone-elses-token');
      expect(res.status).toBe(401);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({
        error: {
          code: 401,
          message: expect.stringMatching(
            /relays only access tokens it issued itself \(IDBRIDGE_BROKER_RELAY=issued\)/,
          ),
          status: 'UNAUTHENTICATED',
        },
      });
      expect(body).not.toContain('someone-elses-token');
      expect(client.upstreamCalls()).toEqual(before);
      expect(stack.auditLines().at(-1)).toMatchObject({
        endpoint: method,
        outcome: 'refused',
        reason: 'unauthenticated',
      });
    },
  );

  it('answers introspection of a token it did not issue as Google does for an inactive one, with no call to Google', async () => {
    const before = client.upstreamCalls();
    const res = await client.introspect('ya29.someone-elses-token');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ active: false });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(client.upstreamCalls()).toEqual(before);
    expect(stack.auditLines().at(-1)).toMatchObject({
      endpoint: 'introspect',
      outcome: 'refused',
      reason: 'not_issued',
    });
  });

  it('relays the tokens it issued, and keeps relaying them when the exchange is answered from its cache', async () => {
    const subjectToken = await stack.token();
    const bearer = await client.federatedToken(subjectToken);
    expect((await client.iam('generateAccessToken', bearer)).status).toBe(200);
    expect((await client.iam('generateIdToken', bearer)).status).toBe(200);
    expect(await (await client.introspect(bearer)).json()).toMatchObject({ active: true });
    // The same exchange again is a cache hit: the same token, still relayed.
    expect(await client.federatedToken(subjectToken)).toBe(bearer);
    expect(stack.auditLines().at(-1)).toMatchObject({ endpoint: 'token', cache: 'hit' });
    const before = client.upstreamCalls();
    expect(await (await client.introspect(bearer)).json()).toMatchObject({ active: true });
    expect(client.upstreamCalls().introspect).toBe(before.introspect + 1);
  });
});

describe('broker relay: any bearer (IDBRIDGE_BROKER_RELAY=any)', () => {
  let stack: BrokerStack;
  const client = relayClient(() => stack);
  beforeAll(async () => {
    stack = await startBrokerStack({ env: { IDBRIDGE_BROKER_RELAY: 'any' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('relays a bearer it did not issue and lets Google judge it', async () => {
    const before = client.upstreamCalls();
    const iam = await client.iam('generateAccessToken', 'ya29.someone-elses-token');
    expect(iam.status).toBe(401);
    expect(client.upstreamCalls().generateAccessToken).toBe(before.generateAccessToken + 1);
    expect(await (await client.introspect('ya29.someone-elses-token')).json()).toEqual({
      active: false,
    });
    expect(client.upstreamCalls().introspect).toBe(before.introspect + 1);
  });
});

describe('broker relay: the serve flag', () => {
  it('--broker-relay any relays a bearer the broker did not issue; the default does not', async () => {
    const google = await startFakeGoogle();
    const dir = await tempDir('idbridge-relay-');
    const env = {
      IDBRIDGE_STORE: `file:${dir.path}`,
      IDBRIDGE_STS_URL: google.url,
      IDBRIDGE_IAMCREDENTIALS_URL: google.url,
      IDBRIDGE_ADMIN_TOKEN: 'relay-admin-token-0123456789',
    };
    const introspect = (url: string) =>
      fetch(`${url}/v1/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=ya29.not-issued',
      });
    try {
      const byDefault = await spawnServe(env);
      try {
        expect(await (await introspect(byDefault.url)).json()).toEqual({ active: false });
        expect(google.calls.introspect).toBe(0);
      } finally {
        await byDefault.stop();
      }
      const relaying = await spawnServe(env, ['--broker-relay', 'any']);
      try {
        expect(await (await introspect(relaying.url)).json()).toEqual({ active: false });
        expect(google.calls.introspect).toBe(1);
      } finally {
        await relaying.stop();
      }
    } finally {
      await google.close();
      await dir.remove();
    }
  });
});
