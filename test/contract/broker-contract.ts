import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { principalFor, startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';

/**
 * A host of the STS broker (`idbridge serve` with its Node fast path, the Cloud Function through
 * hono), started against the fake Google at `upstream`. The same suite runs against every host and
 * asserts the same answers: one route descriptor decides them all.
 */
export interface BrokerHost {
  url: string;
  adminToken: string;
  close(): Promise<void>;
}

const SERVICE_ACCOUNT = 'app@proj.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };

export function describeBrokerContract(
  hostName: string,
  start: (env: Record<string, string>) => Promise<BrokerHost>,
): void {
  describe(`broker contract: ${hostName}`, () => {
    const provider = parseProvider(
      'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
    );
    const key = generateClusterKey('ES256');
    let google: FakeGoogle;
    let host: BrokerHost;

    beforeAll(async () => {
      google = await startFakeGoogle();
      // Both hosts relay only the bearers they issued, so both answer the same.
      host = await start({
        IDBRIDGE_STS_URL: google.url,
        IDBRIDGE_IAMCREDENTIALS_URL: google.url,
        IDBRIDGE_BROKER_RELAY: 'issued',
      });
      const fakeProvider = { path: provider.path, issuerUri: `${host.url}/c1` };
      google.providers.push(fakeProvider);
      google.serviceAccounts.push({
        email: SERVICE_ACCOUNT,
        workloadIdentityUsers: [principalFor(fakeProvider, 'system:serviceaccount:apps:web')],
      });
      const res = await fetch(`${host.url}/api/v1/clusters`, {
        method: 'POST',
        headers: { authorization: `Bearer ${host.adminToken}`, ...JSON_TYPE },
        body: JSON.stringify({ id: 'c1', jwks: jwksOf(key) }),
      });
      expect(res.status).toBe(201);
    });
    afterAll(async () => {
      await host?.close();
      await google?.close();
    });

    const subjectToken = () =>
      signKubeToken(key, {
        issuer: `${host.url}/c1`,
        audience: provider.audience,
        namespace: 'apps',
        serviceAccount: 'web',
      });
    const tokenFields = (token: string) => ({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: provider.audience,
      scope: CLOUD_PLATFORM,
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
    const post = (path: string, body: string, headers: Record<string, string> = FORM) =>
      fetch(`${host.url}${path}`, { method: 'POST', headers, body });
    const iamPath = (method: string) =>
      `/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:${method}`;
    const federatedToken = async () => {
      const res = await post(
        '/v1/token',
        new URLSearchParams(tokenFields(await subjectToken())).toString(),
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    };

    it("exchanges a form token request: 200, Google's fields, no-store", async () => {
      const res = await post(
        '/v1/token',
        new URLSearchParams(tokenFields(await subjectToken())).toString(),
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(await res.json()).toEqual({
        access_token: expect.stringMatching(/^ya29\.fed\./),
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: 3599,
      });
    });

    it('exchanges a camelCase JSON token request', async () => {
      const fields = tokenFields(await subjectToken());
      const res = await post(
        '/v1/token',
        JSON.stringify({
          grantType: fields.grant_type,
          audience: fields.audience,
          scope: fields.scope,
          requestedTokenType: fields.requested_token_type,
          subjectToken: fields.subject_token,
          subjectTokenType: fields.subject_token_type,
        }),
        JSON_TYPE,
      );
      expect(res.status).toBe(200);
      expect(((await res.json()) as { access_token: string }).access_token).toMatch(/^ya29\.fed\./);
    });

    it('introspects a token it issued (active) and one it did not (inactive, nothing sent to Google)', async () => {
      const bearer = await federatedToken();
      const active = await post(
        '/v1/introspect',
        new URLSearchParams({ token: bearer }).toString(),
      );
      expect(active.status).toBe(200);
      expect(await active.json()).toMatchObject({ active: true });
      const before = google.calls.introspect;
      const inactive = await post(
        '/v1/introspect',
        new URLSearchParams({ token: 'ya29.someone-elses-token' }).toString(),
      );
      expect(inactive.status).toBe(200);
      expect(await inactive.json()).toEqual({ active: false });
      expect(inactive.headers.get('cache-control')).toBe('no-store');
      expect(google.calls.introspect).toBe(before);
    });

    it('relays generateAccessToken and generateIdToken with a token it issued', async () => {
      const bearer = await federatedToken();
      const access = await post(
        iamPath('generateAccessToken'),
        JSON.stringify({ scope: [CLOUD_PLATFORM] }),
        { ...JSON_TYPE, authorization: `Bearer ${bearer}` },
      );
      expect(access.status).toBe(200);
      expect(((await access.json()) as { accessToken: string }).accessToken).toMatch(/^ya29\.sa\./);
      const id = await post(
        iamPath('generateIdToken'),
        JSON.stringify({ audience: 'https://run.example' }),
        { ...JSON_TYPE, authorization: `Bearer ${bearer}` },
      );
      expect(id.status).toBe(200);
      expect(((await id.json()) as { token: string }).token.split('.')).toHaveLength(3);
    });

    it('refuses an IAM call without a bearer in the IAM shape, nothing sent to Google', async () => {
      const before = { ...google.calls };
      const res = await post(
        iamPath('generateAccessToken'),
        JSON.stringify({ scope: [CLOUD_PLATFORM] }),
        JSON_TYPE,
      );
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        error: {
          code: 401,
          message: expect.stringMatching(/Authorization: Bearer/),
          status: 'UNAUTHENTICATED',
        },
      });
      expect(google.calls).toEqual(before);
    });

    it.each([
      ['/v1/token', 'sts'],
      ['/v1/introspect', 'sts'],
      [iamPath('generateAccessToken'), 'iam'],
    ] as const)('answers GET %s with 405 and Allow: POST in the %s shape', async (path, shape) => {
      const res = await fetch(`${host.url}${path}`);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      const body = await res.json();
      if (shape === 'sts')
        expect(body).toEqual({
          error: 'invalid_request',
          error_description: expect.stringMatching(/GET is not allowed here/),
        });
      else
        expect(body).toEqual({
          error: {
            code: 405,
            message: expect.stringMatching(/GET is not allowed here/),
            status: 'UNIMPLEMENTED',
          },
        });
    });

    it('refuses a body over 64 KiB with 413 in the shape of the API, nothing sent to Google', async () => {
      const before = { ...google.calls };
      const sts = await post(
        '/v1/token',
        new URLSearchParams(tokenFields('a'.repeat(70_000))).toString(),
      );
      expect(sts.status).toBe(413);
      expect(await sts.json()).toEqual({
        error: 'invalid_request',
        error_description: expect.stringMatching(/larger than 64 KiB/),
      });
      const iam = await post(
        iamPath('generateIdToken'),
        JSON.stringify({ audience: 'a'.repeat(70_000) }),
        { ...JSON_TYPE, authorization: 'Bearer ya29.x' },
      );
      expect(iam.status).toBe(413);
      expect(await iam.json()).toEqual({
        error: {
          code: 413,
          message: expect.stringMatching(/larger than 64 KiB/),
          status: 'INVALID_ARGUMENT',
        },
      });
      expect(google.calls).toEqual(before);
    });

    it.each([
      ['/v1/token', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
      ['/v1/introspect', JSON_TYPE, '{"token":"ya29.x"}'],
    ] as const)(
      'refuses POST %s with the wrong content type: 415 in the STS shape',
      async (path, headers, body) => {
        const before = { ...google.calls };
        const res = await post(path, body, headers);
        expect(res.status).toBe(415);
        expect(await res.json()).toEqual({
          error: 'invalid_request',
          error_description: expect.any(String),
        });
        expect(google.calls).toEqual(before);
      },
    );

    it('refuses malformed form and JSON bodies with 400, nothing sent to Google', async () => {
      const before = { ...google.calls };
      for (const [body, headers] of [
        ['%%%', FORM],
        ['"just a string"', JSON_TYPE],
        ['token=', FORM],
      ] as const) {
        const res = await post(body === 'token=' ? '/v1/introspect' : '/v1/token', body, headers);
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({
          error: expect.any(String),
          error_description: expect.any(String),
        });
      }
      expect(google.calls).toEqual(before);
    });

    it("answers an unknown path under /v1 with idbridge's JSON 404", async () => {
      const res = await post('/v1/other', 'x');
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    });
  });
}
