import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gcloud } from '../support/gcloud.js';
import { SERVICE_ACCOUNT, startBrokerStack, type BrokerStack } from './stack.js';

/**
 * Unmodified Google clients get tokens through the broker with nothing but a credential
 * configuration whose token_url / service_account_impersonation_url / token_info_url point at
 * it, exactly as a pod in a network without a route to Google.
 */
describe('broker, driven by real Google clients', () => {
  let stack: BrokerStack;
  beforeAll(async () => {
    stack = await startBrokerStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('google-auth-library gets an impersonated token and a federated one', async () => {
    const token = await stack.token();
    const scopes = ['https://www.googleapis.com/auth/cloud-platform'];
    const before = { ...stack.google.calls };
    const impersonated = await new GoogleAuth({
      keyFilename: await stack.credentialConfig('gal-sa', token, SERVICE_ACCOUNT),
      scopes,
    }).getAccessToken();
    expect(impersonated).toMatch(/^ya29\.sa\./);
    const direct = await new GoogleAuth({
      keyFilename: await stack.credentialConfig('gal-direct', token),
      scopes,
    }).getAccessToken();
    expect(direct).toMatch(/^ya29\.fed\./);
    // The second exchange of the same token and scope was answered from the broker's cache.
    expect(stack.google.calls.token - before.token).toBe(1);
    expect(stack.google.calls.generateAccessToken - before.generateAccessToken).toBe(1);
    expect(stack.google.tokenRequests.at(-1)).toMatchObject({
      audience: stack.provider.audience,
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    });
  });

  it('gcloud prints an access token with impersonation, and without it (calling /v1/introspect)', async () => {
    const token = await stack.token({ serviceAccount: 'web' });
    const withSa = await gcloud(
      ['auth', 'print-access-token'],
      await stack.credentialConfig('g-sa', token, SERVICE_ACCOUNT),
    );
    expect(withSa.stderr).toBe('');
    expect(withSa.stdout).toMatch(/^ya29\.sa\./);
    const introspections = stack.google.calls.introspect;
    const direct = await gcloud(
      ['auth', 'print-access-token'],
      await stack.credentialConfig('g-direct', token),
    );
    expect(direct.stdout).toMatch(/^ya29\.fed\./);
    expect(stack.google.calls.introspect).toBeGreaterThan(introspections);
    expect(
      stack
        .auditLines()
        .some(
          (line) =>
            line.endpoint === 'introspect' && line.outcome === 'ok' && line.cluster === 'c1',
        ),
    ).toBe(true);
  });

  it('writes one audit line per exchange, with the cluster and verified subject and no token', async () => {
    const token = await stack.token();
    const before = stack.auditLines().length;
    const res = await stack.exchange(
      stack.tokenForm(token, { scope: 'https://www.googleapis.com/auth/devstorage.read_only' }),
    );
    expect(res.status).toBe(200);
    const { access_token: accessToken } = (await res.json()) as { access_token: string };
    const lines = stack.auditLines().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      endpoint: 'token',
      cluster: 'c1',
      subject: 'system:serviceaccount:apps:web',
      provider: stack.provider.path,
      outcome: 'ok',
      status: 200,
      upstreamStatus: 200,
      cache: 'miss',
    });
    expect(typeof lines[0]!.ms).toBe('number');
    const everything = stack.serve.logs.join('\n');
    for (const secret of [
      token,
      token.split('.')[1]!,
      token.split('.')[2]!,
      accessToken,
      accessToken.slice(0, 16),
    ])
      expect(everything).not.toContain(secret);
  });

  it("passes Google's refusal through in Google's shape (no roles/iam.workloadIdentityUser)", async () => {
    const token = await stack.token();
    const result = await gcloud(
      ['auth', 'print-access-token'],
      await stack.credentialConfig('g-other', token, 'other@proj.iam.gserviceaccount.com'),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/PERMISSION_DENIED|iam.serviceAccounts.getAccessToken/);
  });
});
