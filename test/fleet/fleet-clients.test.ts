import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gcloud } from '../support/gcloud.js';
import { FLEET_POOL_SET, SERVICE_ACCOUNT, startFleetStack, type FleetStack } from './stack.js';

const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

/**
 * Fleet mode end to end: pods of two clusters get tokens through the one fleet provider with
 * unmodified Google clients; the fake Google validates every minted token through the fleet
 * issuer's documents, fetched over HTTP from idbridge serve, and grants by attribute.cluster.
 */
describe('fleet mode, driven by real Google clients', () => {
  let stack: FleetStack;
  beforeAll(async () => {
    stack = await startFleetStack();
    await stack.register('a');
    await stack.register('b');
    // Only cluster a's pods may impersonate the service account.
    stack.google.serviceAccounts.push({
      email: SERVICE_ACCOUNT,
      workloadIdentityUsers: [`${FLEET_POOL_SET}/attribute.cluster/a`],
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('serves the fleet issuer documents under /_fleet: issuer byte for byte, public keys only', async () => {
    const discovery = await fetch(`${stack.serve.url}/_fleet/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    const doc = (await discovery.json()) as { issuer: string; jwks_uri: string };
    expect(doc.issuer).toBe(`${stack.serve.url}/_fleet`);
    expect(doc.jwks_uri).toBe(`${stack.serve.url}/_fleet/openid/v1/jwks`);
    const jwks = await fetch(doc.jwks_uri);
    expect(jwks.headers.get('content-type')).toBe('application/jwk-set+json');
    const { keys } = (await jwks.json()) as { keys: Array<Record<string, unknown>> };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
  });

  it('google-auth-library: pods of both clusters get federated tokens through the one provider', async () => {
    const before = stack.google.calls.token;
    for (const cluster of ['a', 'b']) {
      const token = await new GoogleAuth({
        keyFilename: await stack.credentialConfig(`gal-${cluster}`, await stack.token(cluster)),
        scopes: SCOPES,
      }).getAccessToken();
      expect(token).toMatch(/^ya29\.fed\./);
    }
    expect(stack.google.calls.token - before).toBe(2);
    // Google received the minted token under the fleet provider, not the cluster's own token.
    expect(stack.google.tokenRequests.at(-1)).toMatchObject({
      audience: stack.provider.audience,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
  });

  it('google-auth-library: a grant to attribute.cluster/a lets cluster a impersonate and refuses cluster b', async () => {
    const asA = await new GoogleAuth({
      keyFilename: await stack.credentialConfig(
        'gal-sa-a',
        await stack.token('a'),
        SERVICE_ACCOUNT,
      ),
      scopes: SCOPES,
    }).getAccessToken();
    expect(asA).toMatch(/^ya29\.sa\./);
    await expect(
      new GoogleAuth({
        keyFilename: await stack.credentialConfig(
          'gal-sa-b',
          await stack.token('b'),
          SERVICE_ACCOUNT,
        ),
        scopes: SCOPES,
      }).getAccessToken(),
    ).rejects.toThrow(/Permission 'iam.serviceAccounts.getAccessToken' denied/);
  });

  it('gcloud: cluster a impersonates, cluster b is refused, both get federated tokens', async () => {
    const a = await gcloud(
      ['auth', 'print-access-token'],
      await stack.credentialConfig('g-a', await stack.token('a', 'apps', 'api'), SERVICE_ACCOUNT),
    );
    expect(a.stdout).toMatch(/^ya29\.sa\./);
    const b = await gcloud(
      ['auth', 'print-access-token'],
      await stack.credentialConfig('g-b', await stack.token('b', 'apps', 'api'), SERVICE_ACCOUNT),
    );
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/getAccessToken|PERMISSION_DENIED|denied/i);
    const direct = await gcloud(
      ['auth', 'print-access-token'],
      await stack.credentialConfig('g-b-direct', await stack.token('b', 'ops', 'cron')),
    );
    expect(direct.stdout).toMatch(/^ya29\.fed\./);
  }, 180_000);

  it('audits every mint with cluster, subjects, key id and Google status, never a token', async () => {
    const res = await stack.exchange(await stack.token('a', 'audit', 'reader'));
    expect(res.status).toBe(200);
    const line = stack.auditLines().at(-1)!;
    expect(line).toMatchObject({
      endpoint: 'token',
      cluster: 'a',
      subject: 'system:serviceaccount:audit:reader',
      fleetSubject: 'a:audit:reader',
      upstreamStatus: 200,
      outcome: 'ok',
    });
    const jwks = (await (await fetch(`${stack.serve.url}/_fleet/openid/v1/jwks`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((key) => key.kid)).toContain(line.fleetKid);
    const logs = stack.serve.logs.join('\n');
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no JWT, minted or not
    expect(logs).not.toMatch(/"d":/); // no private key member
  });

  it('mints the claims Google maps: cluster, namespace, ServiceAccount, pod, node, a 300 s lifetime', async () => {
    const res = await stack.exchange(await stack.token('b', 'claims', 'checker'));
    expect(res.status).toBe(200);
    const assertion = stack.google.assertions.at(-1)!;
    expect(assertion).toMatchObject({
      iss: `${stack.serve.url}/_fleet`,
      aud: stack.provider.audience,
      sub: 'b:claims:checker',
      cluster: 'b',
      namespace: 'claims',
      service_account: 'checker',
      pod: 'checker-pod',
      node: 'node-1',
    });
    expect(assertion.exp! - assertion.iat!).toBe(300);
  });
});
