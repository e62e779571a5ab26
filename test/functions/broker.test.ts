import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { principalFor, startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFunctionsHost, type FunctionsHost } from '../support/functions.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { tempDir } from '../support/serve.js';

/**
 * The STS broker on the Cloud Functions host (GCS store): google-auth-library gets tokens with a
 * credential configuration pointing at the function, and the fake Google verifies the subject
 * token against the issuer documents the same function serves.
 */
describe('Cloud Function host: STS broker', () => {
  const ADMIN_TOKEN = 'functions-broker-token-0123456789';
  const SERVICE_ACCOUNT = 'app@proj.iam.gserviceaccount.com';
  const provider = parseProvider(
    'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
  );
  const key = generateClusterKey('ES256');
  let gcs: GcsHarness;
  let google: FakeGoogle;
  let fn: FunctionsHost;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let publicUrl: string;

  beforeAll(async () => {
    dir = await tempDir();
    gcs = await startGcsHarness();
    const bucket = await gcs.newBucket();
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    const fakeProvider = { path: provider.path, issuerUri: `${publicUrl}/c1` };
    google = await startFakeGoogle({
      providers: [fakeProvider],
      serviceAccounts: [
        {
          email: SERVICE_ACCOUNT,
          workloadIdentityUsers: [principalFor(fakeProvider, 'system:serviceaccount:apps:web')],
        },
      ],
    });
    fn = await startFunctionsHost(
      {
        IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
        IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
        IDBRIDGE_PUBLIC_URL: publicUrl,
        IDBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
        IDBRIDGE_STS_URL: google.url,
        IDBRIDGE_IAMCREDENTIALS_URL: google.url,
      },
      port,
    );
    const res = await fetch(`${fn.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(key) }),
    });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await fn?.close();
    await google?.close();
    await gcs?.close();
    await dir?.remove();
  });

  const credentialFile = async (name: string, audience: string, serviceAccountEmail?: string) => {
    const tokenPath = join(dir.path, `${name}.token`);
    await writeFile(
      tokenPath,
      await signKubeToken(key, {
        issuer: `${publicUrl}/c1`,
        audience,
        namespace: 'apps',
        serviceAccount: 'web',
      }),
    );
    const path = join(dir.path, `${name}.json`);
    await writeFile(
      path,
      JSON.stringify(
        externalAccountConfig({
          provider,
          tokenPath,
          stsUrl: fn.url,
          iamCredentialsUrl: fn.url,
          format: 'text',
          ...(serviceAccountEmail ? { serviceAccountEmail } : {}),
        }),
      ),
    );
    return path;
  };
  const scopes = ['https://www.googleapis.com/auth/cloud-platform'];

  it('exchanges and impersonates for google-auth-library', async () => {
    expect(
      await new GoogleAuth({
        keyFilename: await credentialFile('sa', provider.audience, SERVICE_ACCOUNT),
        scopes,
      }).getAccessToken(),
    ).toMatch(/^ya29\.sa\./);
    expect(
      await new GoogleAuth({
        keyFilename: await credentialFile('direct', provider.audience),
        scopes,
      }).getAccessToken(),
    ).toMatch(/^ya29\.fed\./);
  });

  it('refuses a token for another audience itself, with no call to Google', async () => {
    const before = google.calls.token;
    const err = await new GoogleAuth({
      keyFilename: await credentialFile('wrong', 'https://kubernetes.default.svc'),
      scopes,
    })
      .getAccessToken()
      .catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/invalid_grant/);
    expect(google.calls.token).toBe(before);
    expect(fn.output()).not.toContain(ADMIN_TOKEN);
  });

  it('relays any bearer by default, since its instances do not share the tokens they issued', async () => {
    const before = google.calls.introspect;
    const res = await fetch(`${fn.url}/v1/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=ya29.issued-by-another-instance',
    });
    expect(await res.json()).toEqual({ active: false });
    expect(google.calls.introspect).toBe(before + 1);
  });
});
