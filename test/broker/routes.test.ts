import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { generateClusterKey, signKubeToken } from '../support/keys.js';
import { SERVICE_ACCOUNT, startBrokerStack, type BrokerStack } from './stack.js';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

describe('broker routes on idbridge serve', () => {
  let stack: BrokerStack;
  beforeAll(async () => {
    stack = await startBrokerStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const federatedToken = async () => {
    const res = await stack.exchange(stack.tokenForm(await stack.token()));
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const iam = (
    method: string,
    bearer: string | undefined,
    body: unknown,
    account = SERVICE_ACCOUNT,
  ) =>
    fetch(`${stack.serve.url}/v1/projects/-/serviceAccounts/${account}:${method}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify(body),
    });

  it('exchanges a camelCase JSON request with an ignorable Basic header and double-encoded options', async () => {
    const token = await stack.token();
    const res = await fetch(`${stack.serve.url}/v1/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${btoa('client:secret')}`,
      },
      body: JSON.stringify({
        grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
        audience: stack.provider.audience,
        scope: CLOUD_PLATFORM,
        requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
        subjectToken: token,
        subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
        options: encodeURIComponent(encodeURIComponent('{"userProject":"my-project"}')),
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      access_token: expect.stringMatching(/^ya29\.fed\./),
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 3599,
    });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(stack.google.tokenRequests.at(-1)).toMatchObject({
      options: '{"userProject":"my-project"}',
      scope: CLOUD_PLATFORM,
    });
  });

  it('answers an identical exchange from its cache, with the lifetime that is left', async () => {
    const form = stack.tokenForm(await stack.token());
    const first = (await (await stack.exchange(form)).json()) as {
      access_token: string;
      expires_in: number;
    };
    const before = stack.google.calls.token;
    const second = (await (await stack.exchange(form)).json()) as {
      access_token: string;
      expires_in: number;
    };
    expect(stack.google.calls.token).toBe(before);
    expect(second.access_token).toBe(first.access_token);
    expect(second.expires_in).toBeLessThanOrEqual(first.expires_in);
    expect(second.expires_in).toBeGreaterThan(3000);
    expect(stack.auditLines().at(-1)).toMatchObject({ cache: 'hit', outcome: 'ok' });
    expect(stack.auditLines().at(-1)!.upstreamStatus).toBeUndefined();
    // Another scope is another exchange.
    await stack.exchange({
      ...form,
      scope: 'https://www.googleapis.com/auth/devstorage.read_only',
    });
    expect(stack.google.calls.token).toBe(before + 1);
  });

  it('relays generateAccessToken and generateIdToken, caching the access token and auditing who asked', async () => {
    const bearer = await federatedToken();
    const before = stack.google.calls.generateAccessToken;
    const first = await iam('generateAccessToken', bearer, {
      scope: [CLOUD_PLATFORM],
      lifetime: '1800s',
    });
    expect(first.status).toBe(200);
    const answer = (await first.json()) as { accessToken: string; expireTime: string };
    expect(answer.accessToken).toMatch(/^ya29\.sa\./);
    const again = (await (
      await iam('generateAccessToken', bearer, { scope: [CLOUD_PLATFORM], lifetime: '1800s' })
    ).json()) as { accessToken: string };
    expect(again.accessToken).toBe(answer.accessToken);
    expect(stack.google.calls.generateAccessToken).toBe(before + 1);
    expect(stack.auditLines().at(-1)).toMatchObject({
      endpoint: 'generateAccessToken',
      serviceAccount: SERVICE_ACCOUNT,
      cluster: 'c1',
      subject: 'system:serviceaccount:apps:web',
      cache: 'hit',
    });

    const id = await iam('generateIdToken', bearer, {
      audience: 'https://service.example',
      includeEmail: true,
    });
    expect(id.status).toBe(200);
    const { token } = (await id.json()) as { token: string };
    const { payload } = await jwtVerify(
      token,
      createLocalJWKSet((await stack.google.idTokenJwks()) as never),
      { audience: 'https://service.example', issuer: 'https://accounts.google.com' },
    );
    expect(payload.email).toBe(SERVICE_ACCOUNT);
    const logs = stack.serve.logs.join('\n');
    for (const secret of [bearer, answer.accessToken, token.split('.')[1]!, token.split('.')[2]!])
      expect(logs).not.toContain(secret);
    const metrics = await (await fetch(`${stack.serve.url}/metrics`)).text();
    for (const secret of [bearer, answer.accessToken]) expect(metrics).not.toContain(secret);
  });

  it("relays Google's IAM refusals and answers its own in the IAM shape", async () => {
    const denied = await iam(
      'generateAccessToken',
      await federatedToken(),
      { scope: [CLOUD_PLATFORM] },
      'other@proj.iam.gserviceaccount.com',
    );
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { status: string } }).error.status).toBe(
      'PERMISSION_DENIED',
    );

    const before = { ...stack.google.calls };
    const missing = await iam('generateAccessToken', undefined, { scope: [CLOUD_PLATFORM] });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({
      error: {
        code: 401,
        message: expect.stringMatching(/Authorization: Bearer/),
        status: 'UNAUTHENTICATED',
      },
    });
    const signJwt = await iam('signJwt', 'ya29.x', {});
    expect(signJwt.status).toBe(404);
    expect(((await signJwt.json()) as { error: { status: string } }).error.status).toBe(
      'NOT_FOUND',
    );
    const project = await fetch(
      `${stack.serve.url}/v1/projects/my-project/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
      {
        method: 'POST',
        headers: { authorization: 'Bearer ya29.x', 'content-type': 'application/json' },
        body: '{"scope":["s"]}',
      },
    );
    expect(project.status).toBe(400);
    const huge = await iam('generateIdToken', 'ya29.x', { audience: 'a'.repeat(70_000) });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { status: string } }).error.status).toBe(
      'INVALID_ARGUMENT',
    );
    expect(stack.google.calls).toEqual(before);
  });

  it('refuses a streamed body over 64 KiB without reading it all, and keeps serving', async () => {
    const chunk = new TextEncoder().encode('a'.repeat(16_384));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 64) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${stack.serve.url}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(/larger than 64 KiB/),
    });
    expect((await fetch(`${stack.serve.url}/healthz`)).status).toBe(200);
  });

  const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
  const JSON_TYPE = { 'content-type': 'application/json' };
  it.each([
    ['/v1/token', FORM, '%%%', 400, 'sts'],
    ['/v1/token', FORM, '\u0000\uffff', 400, 'sts'],
    ['/v1/token', JSON_TYPE, '{"grantType":{"nested":[1,2,3]}}', 400, 'sts'],
    ['/v1/token', JSON_TYPE, '"just a string"', 400, 'sts'],
    ['/v1/token', JSON_TYPE, `{"options":${'['.repeat(30_000)}${']'.repeat(30_000)}}`, 400, 'sts'],
    [
      `/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
      { ...JSON_TYPE, authorization: 'Bearer ya29.x' },
      `{"scope":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
      400,
      'iam',
    ],
    ['/v1/token', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--', 415, 'sts'],
    ['/v1/introspect', JSON_TYPE, '{"token":"ya29.x"}', 415, 'sts'],
    ['/v1/introspect', FORM, 'token=', 400, 'sts'],
    [
      `/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateIdToken`,
      { ...JSON_TYPE, authorization: 'Bearer ya29.x' },
      '{"audience":""}',
      400,
      'iam',
    ],
    [
      '/v1/projects/-/serviceAccounts/%ZZ:generateIdToken',
      { ...JSON_TYPE, authorization: 'Bearer ya29.x' },
      '{"audience":"a"}',
      400,
      'iam',
    ],
  ] as const)(
    'refuses POST %s with %j %j: %i, nothing forwarded',
    async (path, headers, body, status, shape) => {
      const before = { ...stack.google.calls };
      const res = await fetch(`${stack.serve.url}${path}`, { method: 'POST', headers, body });
      expect(res.status).toBe(status);
      const answer = (await res.json()) as Record<string, unknown>;
      if (shape === 'sts')
        expect(answer).toEqual({
          error: expect.any(String),
          error_description: expect.any(String),
        });
      else
        expect(answer).toEqual({
          error: { code: status, message: expect.any(String), status: expect.any(String) },
        });
      expect(stack.google.calls).toEqual(before);
    },
  );

  it('takes POST only, answering other methods in the shape of the API', async () => {
    const sts = await fetch(`${stack.serve.url}/v1/token`);
    expect(sts.status).toBe(405);
    expect(sts.headers.get('allow')).toBe('POST');
    expect(await sts.json()).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(/GET is not allowed here/),
    });
    const iamGet = await fetch(
      `${stack.serve.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
      { method: 'PUT' },
    );
    expect(iamGet.status).toBe(405);
    expect(((await iamGet.json()) as { error: { code: number } }).error.code).toBe(405);
  });

  it("applies the cluster's policy: subjects, providers, audiences", async () => {
    const patch = async (broker: unknown) =>
      expect((await stack.admin('PATCH', '/api/v1/clusters/c1', { broker })).status).toBe(200);
    const before = stack.google.calls.token;

    await patch({ subjects: ['system:serviceaccount:team-a:*'] });
    const subject = await stack.exchange(stack.tokenForm(await stack.token()));
    expect(subject.status).toBe(400);
    expect(await subject.json()).toEqual({
      error: 'unauthorized_client',
      error_description: expect.stringMatching(
        /may not exchange tokens through cluster c1's broker policy/,
      ),
    });
    expect(
      (await stack.exchange(stack.tokenForm(await stack.token({ namespace: 'team-a' })))).status,
    ).toBe(200);

    await patch({
      providers: ['projects/123456/locations/global/workloadIdentityPools/other/providers/*'],
    });
    const provider = await stack.exchange(stack.tokenForm(await stack.token()));
    expect(((await provider.json()) as { error: string }).error).toBe('invalid_target');

    await patch({ audiences: ['sts.googleapis.com'] });
    const defaultAudience = await stack.exchange(stack.tokenForm(await stack.token()));
    expect(
      ((await defaultAudience.json()) as { error_description: string }).error_description,
    ).toMatch(/audience .* is not one accepted here \("sts.googleapis.com"\)/);
    stack.google.providers[0]!.allowedAudiences = ['sts.googleapis.com'];
    try {
      expect(
        (
          await stack.exchange(
            stack.tokenForm(await stack.token({ audience: 'sts.googleapis.com' })),
          )
        ).status,
      ).toBe(200);
    } finally {
      delete stack.google.providers[0]!.allowedAudiences;
    }

    await patch(null);
    expect((await stack.exchange(stack.tokenForm(await stack.token()))).status).toBe(200);
    // Only the exchanges the policy allowed went upstream.
    expect(stack.google.calls.token - before).toBe(3);
  });

  it('exchanges ES256 tokens of another cluster', async () => {
    const ec = generateClusterKey('ES256');
    await stack.registerCluster('c2', [ec]);
    const provider = parseProvider(
      'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c2',
    );
    stack.google.providers.push({ path: provider.path, issuerUri: stack.issuerOf('c2') });
    const token = await signKubeToken(ec, {
      issuer: stack.issuerOf('c2'),
      audience: provider.audience,
    });
    const res = await stack.exchange({ ...stack.tokenForm(token), audience: provider.audience });
    expect(res.status).toBe(200);
    expect(stack.auditLines().at(-1)).toMatchObject({
      cluster: 'c2',
      provider: provider.path,
      outcome: 'ok',
    });
  });

  it('stops accepting a key the moment it is removed, and a cluster the moment it is deleted', async () => {
    const token = await stack.token();
    const replacement = generateClusterKey('RS256');
    await stack.registerCluster('c3', [replacement]);
    expect(
      (await stack.admin('PUT', '/api/v1/clusters/c1/keys', { jwks: { keys: [replacement.jwk] } }))
        .status,
    ).toBe(200);
    try {
      const res = await stack.exchange(stack.tokenForm(token));
      expect(((await res.json()) as { error_description: string }).error_description).toMatch(
        /not among cluster c1's published keys/,
      );
    } finally {
      expect(
        (await stack.admin('PUT', '/api/v1/clusters/c1/keys', { jwks: { keys: [stack.key.jwk] } }))
          .status,
      ).toBe(200);
    }
    const c3Token = await signKubeToken(replacement, {
      issuer: stack.issuerOf('c3'),
      audience: stack.provider.audience,
    });
    // The broker accepts it and forwards it (the fake Google then judges it against c1's provider).
    const forwarded = stack.google.calls.token;
    await stack.exchange(stack.tokenForm(c3Token));
    expect(stack.google.calls.token).toBe(forwarded + 1);
    expect((await stack.admin('DELETE', '/api/v1/clusters/c3')).status).toBe(204);
    const gone = await stack.exchange(stack.tokenForm(c3Token));
    expect(((await gone.json()) as { error_description: string }).error_description).toMatch(
      /not a cluster registered with this broker/,
    );
  });

  it('serves Prometheus metrics on /metrics, with no token in them', async () => {
    const token = await stack.token();
    await stack.exchange(stack.tokenForm(token));
    const res = await fetch(`${stack.serve.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/idbridge_broker_requests_total\{endpoint="token",outcome="ok"\} \d+/);
    expect(text).toMatch(
      /idbridge_broker_refusals_total\{endpoint="token",reason="unknown_key"\} \d+/,
    );
    expect(text).toMatch(
      /idbridge_broker_upstream_attempts_total\{endpoint="token",outcome="200"\} \d+/,
    );
    expect(text).toMatch(/idbridge_broker_cache_total\{endpoint="token",result="hit"\} \d+/);
    expect(text).toMatch(/idbridge_broker_cache_bytes \d+/);
    expect(text).toMatch(/idbridge_process_cpu_seconds_total/);
    for (const part of token.split('.')) expect(text).not.toContain(part);
    expect(text).not.toMatch(/ya29\./);
  });
});

describe('broker rate limits', () => {
  let stack: BrokerStack;
  beforeAll(async () => {
    stack = await startBrokerStack({
      env: { IDBRIDGE_BROKER_RATE_PER_SUBJECT: '2', IDBRIDGE_BROKER_RATE_PER_CLUSTER: '3' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('answers 429 with Retry-After per subject, then per cluster; cached answers stay free', async () => {
    const first = stack.tokenForm(await stack.token());
    expect((await stack.exchange(first)).status).toBe(200);
    expect((await stack.exchange(stack.tokenForm(await stack.token()))).status).toBe(200);
    const before = stack.google.calls.token;
    const limited = await stack.exchange(stack.tokenForm(await stack.token()));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toEqual({
      error: 'temporarily_unavailable',
      error_description: expect.stringMatching(/IDBRIDGE_BROKER_RATE_PER_SUBJECT/),
    });
    expect(stack.google.calls.token).toBe(before);
    expect((await stack.exchange(first)).status).toBe(200);

    expect(
      (await stack.exchange(stack.tokenForm(await stack.token({ serviceAccount: 'other' }))))
        .status,
    ).toBe(200);
    const cluster = await stack.exchange(
      stack.tokenForm(await stack.token({ serviceAccount: 'third' })),
    );
    expect(cluster.status).toBe(429);
    expect(((await cluster.json()) as { error_description: string }).error_description).toMatch(
      /cluster c1 has used its IDBRIDGE_BROKER_RATE_PER_CLUSTER/,
    );
    const metrics = await (await fetch(`${stack.serve.url}/metrics`)).text();
    expect(metrics).toMatch(/idbridge_broker_rate_limited_total\{scope="subject"\} 1/);
    expect(metrics).toMatch(/idbridge_broker_rate_limited_total\{scope="cluster"\} 1/);
  });
});
