import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { gcloud } from '../support/gcloud.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';
import { principalFor, startFakeGoogle, type FakeGoogle } from './google.js';

/**
 * The fake Google against the real clients and the real issuer routes: proves the fake speaks
 * the wire format the SDKs and gcloud expect, so suites built on it test something real.
 */
describe('fake Google STS and IAM Credentials, driven by real clients', () => {
  const provider = parseProvider(
    'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
  );
  const sa = 'app@proj.iam.gserviceaccount.com';
  const key = generateClusterKey('RS256');
  let issuer: ServeHarness;
  let google: FakeGoogle;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  const writeToken = async (name: string, audience = provider.audience) => {
    const path = join(dir.path, name);
    await writeFile(
      path,
      await signKubeToken(key, {
        issuer: `${issuer.url}/c1`,
        audience,
        namespace: 'apps',
        serviceAccount: 'web',
      }),
    );
    return path;
  };
  const writeConfig = async (name: string, tokenPath: string, serviceAccountEmail?: string) => {
    const path = join(dir.path, name);
    const config = externalAccountConfig({
      provider,
      tokenPath,
      stsUrl: google.url,
      iamCredentialsUrl: google.url,
      format: 'text',
      ...(serviceAccountEmail ? { serviceAccountEmail } : {}),
    });
    await writeFile(path, JSON.stringify(config));
    return path;
  };

  beforeAll(async () => {
    dir = await tempDir();
    issuer = await startServe();
    const res = await fetch(`${issuer.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${issuer.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(key) }),
    });
    expect(res.status).toBe(201);
    const fakeProvider = { path: provider.path, issuerUri: `${issuer.url}/c1` };
    google = await startFakeGoogle({
      providers: [fakeProvider],
      serviceAccounts: [
        {
          email: sa,
          workloadIdentityUsers: [principalFor(fakeProvider, 'system:serviceaccount:apps:web')],
        },
      ],
    });
  });
  afterAll(async () => {
    await google?.close();
    await issuer?.close();
    await dir?.remove();
  });

  it('google-auth-library gets an impersonated token and a federated one', async () => {
    const tokenPath = await writeToken('token');
    const impersonated = await new GoogleAuth({
      keyFilename: await writeConfig('sa.json', tokenPath, sa),
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    }).getAccessToken();
    expect(impersonated).toMatch(/^ya29\.sa\./);
    const direct = await new GoogleAuth({
      keyFilename: await writeConfig('direct.json', tokenPath),
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    }).getAccessToken();
    expect(direct).toMatch(/^ya29\.fed\./);
    expect(google.tokenRequests.at(-1)).toMatchObject({
      audience: provider.audience,
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    });
  });

  it('gcloud prints an access token with and without impersonation', async () => {
    const tokenPath = await writeToken('token-gcloud');
    const withSa = await gcloud(
      ['auth', 'print-access-token'],
      await writeConfig('g-sa.json', tokenPath, sa),
    );
    expect(withSa.stderr).toBe('');
    expect(withSa.stdout).toMatch(/^ya29\.sa\./);
    const introspections = google.calls.introspect;
    const direct = await gcloud(
      ['auth', 'print-access-token'],
      await writeConfig('g-direct.json', tokenPath),
    );
    expect(direct.stdout).toMatch(/^ya29\.fed\./);
    expect(google.calls.introspect).toBeGreaterThan(introspections);
  });

  it('refuses a token for another audience the way Google does', async () => {
    const tokenPath = await writeToken('token-wrong-aud', 'https://kubernetes.default.svc');
    const err = await new GoogleAuth({
      keyFilename: await writeConfig('bad.json', tokenPath, sa),
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    })
      .getAccessToken()
      .catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(
      /invalid_grant|does not match the expected audience/,
    );
  });

  it('answers PERMISSION_DENIED when the principal lacks roles/iam.workloadIdentityUser', async () => {
    const tokenPath = await writeToken('token-other');
    const result = await gcloud(
      ['auth', 'print-access-token'],
      await writeConfig('other.json', tokenPath, 'other@proj.iam.gserviceaccount.com'),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/PERMISSION_DENIED|iam.serviceAccounts.getAccessToken/);
  });
});
