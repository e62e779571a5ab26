import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { tempDir } from '../support/serve.js';
import { startFakeGoogle, type FakeGoogle } from './google.js';
import { startFakeIamAdmin, type FakeIamAdmin } from './iam-admin.js';

/**
 * The IAM admin fake's provider reads and patches, with bearers verified by the fake Google: the
 * wire format (Google's JSON errors, long-running operations), update masks, per-caller grants
 * and etag concurrency, driven by google-auth-library's own access tokens.
 */
describe('fake IAM API: workload identity pool providers', () => {
  const provider = parseProvider(
    'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
  );
  const issuer = 'https://issuer.invalid/c1';
  const key = generateClusterKey('RS256');
  const pool = 'projects/123456/locations/global/workloadIdentityPools/idbridge';
  const principal = (sub: string) => `principal://iam.googleapis.com/${pool}/subject/${sub}`;
  let google: FakeGoogle;
  let iam: FakeIamAdmin;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  /** An access token for system:serviceaccount:NS:NAME, obtained the way a pod gets one. */
  const tokenFor = async (serviceAccount: string): Promise<string> => {
    const tokenPath = join(dir.path, `${serviceAccount}.jwt`);
    await writeFile(
      tokenPath,
      await signKubeToken(key, {
        issuer,
        audience: provider.audience,
        namespace: 'sync',
        serviceAccount,
      }),
    );
    const configPath = join(dir.path, `${serviceAccount}.json`);
    await writeFile(
      configPath,
      JSON.stringify(
        externalAccountConfig({ provider, tokenPath, stsUrl: google.url, format: 'text' }),
      ),
    );
    const token = await new GoogleAuth({
      keyFilename: configPath,
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    }).getAccessToken();
    return token!;
  };
  const call = async (token: string, method: string, query = '', body?: unknown) => {
    const res = await fetch(`${iam.url}/v1/${provider.path}${query}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    dir = await tempDir();
    google = await startFakeGoogle({
      providers: [
        {
          path: provider.path,
          issuerUri: issuer,
          // Nothing is served at the issuer: the uploaded keys are all Google has.
          jwksJson: () => iam.providers.get(provider.path)?.oidc.jwksJson,
        },
      ],
    });
    iam = await startFakeIamAdmin({ google });
    iam.providers.set(provider.path, {
      name: provider.path,
      oidc: { issuerUri: issuer, jwksJson: JSON.stringify(jwksOf(key)) },
      attributeMapping: { 'google.subject': 'assertion.sub' },
      etag: 'etag-0',
    });
    iam.grant(
      principal('system:serviceaccount:sync:admin'),
      'roles/iam.workloadIdentityPoolAdmin',
      pool,
    );
    iam.grant(
      principal('system:serviceaccount:sync:viewer'),
      'roles/iam.workloadIdentityPoolViewer',
      provider.path,
    );
  });
  afterAll(async () => {
    await iam?.close();
    await google?.close();
    await dir?.remove();
  });

  it('the fake STS verifies with the uploaded keys, fetching nothing from the issuer', async () => {
    expect(await tokenFor('admin')).toMatch(/^ya29\.fed\./);
  });

  it('gets a provider and patches its uploaded keys with an update mask, as a long-running operation', async () => {
    const token = await tokenFor('admin');
    const read = await call(token, 'GET');
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ name: provider.path, oidc: { issuerUri: issuer } });
    const next = JSON.stringify(jwksOf(key, generateClusterKey('ES256')));
    const patched = await call(token, 'PATCH', '?updateMask=oidc.jwksJson', {
      oidc: { jwksJson: next },
      etag: read.json.etag,
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ done: true, response: { oidc: { jwksJson: next } } });
    expect(patched.json.name).toMatch(/\/operations\//);
    expect(iam.providers.get(provider.path)!.oidc.jwksJson).toBe(next);
    expect(iam.providers.get(provider.path)!.etag).not.toBe(read.json.etag);
  });

  it('refuses a stale etag with 409 ABORTED and changes nothing', async () => {
    const token = await tokenFor('admin');
    const before = iam.providers.get(provider.path)!;
    const stale = await call(token, 'PATCH', '?updateMask=oidc.jwksJson', {
      oidc: { jwksJson: JSON.stringify(jwksOf(key)) },
      etag: 'etag-0',
    });
    expect(stale).toMatchObject({ status: 409, json: { error: { code: 409, status: 'ABORTED' } } });
    expect(iam.providers.get(provider.path)).toEqual(before);
  });

  it.each([
    ['no mask', '', { oidc: { jwksJson: '{"keys":[]}' } }, /update_mask is required/],
    [
      'an unknown mask path',
      '?updateMask=oidc.jwks',
      { oidc: {} },
      /Invalid update mask path: "oidc.jwks"/,
    ],
    ['a name in the mask', '?updateMask=name', { name: 'x' }, /Invalid update mask path: "name"/],
    [
      'keys that are not JSON',
      '?updateMask=oidc.jwksJson',
      { oidc: { jwksJson: '{' } },
      /not valid JSON/,
    ],
    [
      'a JWK member Google does not store',
      '?updateMask=oidc.jwksJson',
      { oidc: { jwksJson: JSON.stringify({ keys: [{ ...key.jwk, x5c: ['AA'] }] }) } },
      /unsupported field \[x5c\]/,
    ],
    [
      'a symmetric key',
      '?updateMask=oidc.jwksJson',
      { oidc: { jwksJson: JSON.stringify({ keys: [{ kty: 'oct', kid: 'k' }] }) } },
      /unsupported key type \[oct\]/,
    ],
  ])(
    'refuses %s with 400 INVALID_ARGUMENT and changes nothing',
    async (_name, query, body, message) => {
      const token = await tokenFor('admin');
      const before = iam.providers.get(provider.path)!;
      const refused = await call(token, 'PATCH', query, body);
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      expect(refused.json.error.message).toMatch(message);
      expect(iam.providers.get(provider.path)).toEqual(before);
    },
  );

  it('grants are per caller: a viewer reads but may not update; a stranger may do neither', async () => {
    const viewer = await tokenFor('viewer');
    expect((await call(viewer, 'GET')).status).toBe(200);
    const update = await call(viewer, 'PATCH', '?updateMask=oidc.jwksJson', {
      oidc: { jwksJson: JSON.stringify(jwksOf(key)) },
    });
    expect(update.status).toBe(403);
    expect(update.json.error).toEqual({
      code: 403,
      status: 'PERMISSION_DENIED',
      message: `Permission 'iam.workloadIdentityPoolProviders.update' denied on resource '//iam.googleapis.com/${provider.path}' (or it may not exist).`,
    });
    const stranger = await tokenFor('stranger');
    expect((await call(stranger, 'GET')).json.error.status).toBe('PERMISSION_DENIED');
  });

  it('a missing provider is 404 for a caller with rights on the pool, 403 for one without', async () => {
    const admin = await tokenFor('admin');
    const res = await fetch(`${iam.url}/v1/${pool}/providers/nope-nope`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { status: string } }).error.status).toBe('NOT_FOUND');
    const viewer = await tokenFor('viewer');
    const hidden = await fetch(`${iam.url}/v1/${pool}/providers/nope-nope`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(hidden.status).toBe(403);
  });

  it('a PATCH may answer a running operation: the change lands when a read finds it done', async () => {
    const admin = await tokenFor('admin');
    const before = iam.providers.get(provider.path)!.oidc.jwksJson;
    const next = JSON.stringify(jwksOf(key, generateClusterKey('ES256')));
    iam.operateNext({ polls: 1 });
    const started = await call(admin, 'PATCH', '?updateMask=oidc.jwksJson', {
      oidc: { jwksJson: next },
    });
    expect(started.status).toBe(200);
    expect(started.json).toEqual({
      name: expect.stringMatching(/\/operations\/op-\d+$/),
      done: false,
    });
    const read = async (token: string, name: string) => {
      const res = await fetch(`${iam.url}/v1/${name}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.status, json: (await res.json()) as Record<string, any> };
    };
    expect((await read(admin, started.json.name)).json).toEqual({
      name: started.json.name,
      done: false,
    });
    expect(iam.providers.get(provider.path)!.oidc.jwksJson).toBe(before);
    const done = await read(admin, started.json.name);
    expect(done.json).toMatchObject({
      name: started.json.name,
      done: true,
      response: { oidc: { jwksJson: next } },
    });
    expect(iam.providers.get(provider.path)!.oidc.jwksJson).toBe(next);
    // Reading an operation needs the get permission on the provider; an unknown one is 404.
    expect((await read(await tokenFor('stranger'), started.json.name)).status).toBe(403);
    expect((await read(admin, `${provider.path}/operations/op-unknown`)).status).toBe(404);
  });

  it('an operation that fails ends done with a google.rpc.Status, and changes nothing', async () => {
    const admin = await tokenFor('admin');
    const before = iam.providers.get(provider.path)!.oidc.jwksJson;
    iam.operateNext({ error: { code: 9, message: 'The provider is being deleted.' } });
    const started = await call(admin, 'PATCH', '?updateMask=oidc.jwksJson', {
      oidc: { jwksJson: JSON.stringify(jwksOf(generateClusterKey('ES256'))) },
    });
    const res = await fetch(`${iam.url}/v1/${started.json.name}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(await res.json()).toEqual({
      name: started.json.name,
      done: true,
      error: { code: 9, message: 'The provider is being deleted.' },
    });
    expect(iam.providers.get(provider.path)!.oidc.jwksJson).toBe(before);
  });

  it('a bearer the fake Google did not issue is 401 UNAUTHENTICATED', async () => {
    const refused = await call('ya29.made-up', 'GET');
    expect(refused.status).toBe(401);
    expect(refused.json.error.status).toBe('UNAUTHENTICATED');
  });
});
