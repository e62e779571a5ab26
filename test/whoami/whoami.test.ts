import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  externalAccountConfig,
  parseProvider,
  type CredentialConfigInput,
} from '../../src/credentials/credential-config.js';
import { exitCode, type Check, type Verdict } from '../../src/report/report.js';
import { whoami, type WhoamiResult } from '../../src/whoami/whoami.js';
import {
  principalFor,
  startFakeGoogle,
  type FakeGoogle,
  type FakeProvider,
} from '../fakes/google.js';
import { generateClusterKey, jwksOf, signKubeToken, type ClusterKey } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { registerCluster, startServe, tempDir, type ServeHarness } from '../support/serve.js';

const PROJECT = '123456';
const providerPath = (id: string) =>
  `projects/${PROJECT}/locations/global/workloadIdentityPools/idbridge/providers/${id}`;
const SA = 'app@proj.iam.gserviceaccount.com';
const OTHER_SA = 'other@proj.iam.gserviceaccount.com';

function find(result: WhoamiResult, id: string): Check {
  const check = result.checks.find((c) => c.id === id);
  if (!check) throw new Error(`no step ${id}`);
  return check;
}

function expectStep(
  result: WhoamiResult,
  id: string,
  verdict: Verdict,
  summary?: RegExp,
  fix?: RegExp,
): void {
  const check = find(result, id);
  expect({ id, verdict: check.verdict, summary: check.summary }).toMatchObject({ id, verdict });
  if (summary) expect(check.summary).toMatch(summary);
  if (fix) expect(check.fix ?? '').toMatch(fix);
}

describe('idbridge whoami against the fake Google STS and IAM Credentials', () => {
  const key = generateClusterKey('RS256');
  let issuer: ServeHarness;
  let google: FakeGoogle;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let closedPort: number;
  let n = 0;

  beforeAll(async () => {
    dir = await tempDir();
    closedPort = await freePort();
    issuer = await startServe();
    for (const id of ['c1', 'c2']) await registerCluster(issuer, id, jwksOf(key));
    const ok: FakeProvider = { path: providerPath('cluster-c1'), issuerUri: `${issuer.url}/c1` };
    google = await startFakeGoogle({
      providers: [
        ok,
        { path: providerPath('disabled'), issuerUri: `${issuer.url}/c1`, disabled: true },
        {
          path: providerPath('prod-only'),
          issuerUri: `${issuer.url}/c1`,
          attributeCondition: (a) =>
            (a['kubernetes.io'] as { namespace?: string }).namespace === 'prod',
        },
        { path: providerPath('unreachable'), issuerUri: `http://127.0.0.1:${closedPort}/c1` },
        { path: providerPath('other-issuer'), issuerUri: `${issuer.url}/c2` },
      ],
      serviceAccounts: [
        { email: SA, workloadIdentityUsers: [principalFor(ok, 'system:serviceaccount:apps:web')] },
        { email: OTHER_SA, workloadIdentityUsers: [] },
      ],
    });
  });
  afterAll(async () => {
    await google?.close();
    await issuer?.close();
    await dir?.remove();
  });

  interface Setup {
    provider?: string;
    serviceAccount?: string;
    key?: ClusterKey;
    audience?: string;
    tokenUrl?: string;
    namespace?: string;
    config?: Partial<CredentialConfigInput>;
  }

  /** Writes a token and a credential configuration as the webhook would, and runs whoami. */
  async function run(setup: Setup = {}): Promise<WhoamiResult> {
    const id = ++n;
    const provider = parseProvider(providerPath(setup.provider ?? 'cluster-c1'));
    const tokenPath = join(dir.path, `token-${id}`);
    await writeFile(
      tokenPath,
      await signKubeToken(setup.key ?? key, {
        issuer: `${issuer.url}/c1`,
        audience: setup.audience ?? provider.audience,
        namespace: setup.namespace ?? 'apps',
        serviceAccount: 'web',
      }),
    );
    const configPath = join(dir.path, `config-${id}.json`);
    const serviceAccountEmail =
      setup.serviceAccount === '' ? undefined : (setup.serviceAccount ?? SA);
    await writeFile(
      configPath,
      JSON.stringify(
        externalAccountConfig({
          provider,
          tokenPath,
          format: 'text',
          stsUrl: setup.tokenUrl ?? google.url,
          iamCredentialsUrl: google.url,
          ...(serviceAccountEmail ? { serviceAccountEmail } : {}),
          ...setup.config,
        }),
      ),
    );
    return whoami(
      { credentialsPath: configPath },
      {
        readFile: (path) => readFile(path, 'utf8'),
        fetch,
        timeoutMs: 5000,
        clock: () => performance.now(),
        now: Date.now,
      },
    );
  }

  it('success with impersonation: Kubernetes identity, principal, service account, expiry, timings', async () => {
    const result = await run();
    expect(result.checks.map((c) => `${c.id}=${c.verdict}`)).toEqual([
      'config=pass',
      'token=pass',
      'exchange=pass',
      'impersonate=pass',
    ]);
    expectStep(
      result,
      'token',
      'pass',
      /ServiceAccount apps\/web, pod web-pod, issuer http:\/\/127\.0\.0\.1:\d+\/c1, expires in 60 min/,
    );
    expect(result.identity).toMatchObject({
      principal: `principal://iam.googleapis.com/projects/${PROJECT}/locations/global/workloadIdentityPools/idbridge/subject/system:serviceaccount:apps:web`,
      googleServiceAccount: SA,
      kubernetes: {
        namespace: 'apps',
        serviceAccount: 'web',
        pod: 'web-pod',
        subject: 'system:serviceaccount:apps:web',
      },
      accessTokenExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(find(result, 'exchange').ms).toBeGreaterThanOrEqual(0);
    expect(find(result, 'impersonate').ms).toBeGreaterThanOrEqual(0);
    expect(exitCode(result.checks)).toBe(0);
  });

  it('success without a service account: the federated principal is the identity', async () => {
    const result = await run({ serviceAccount: '' });
    expectStep(
      result,
      'exchange',
      'pass',
      /federated token for principal:\/\/.*subject\/system:serviceaccount:apps:web, expires in 60 min/,
    );
    expectStep(result, 'impersonate', 'skip', /--member=principal:\/\//);
    expect(result.identity.googleServiceAccount).toBeUndefined();
    expect(exitCode(result.checks)).toBe(0);
  });

  it('invalid_target: provider disabled', async () => {
    const result = await run({ provider: 'disabled' });
    expectStep(
      result,
      'exchange',
      'fail',
      /invalid_target: .*providers\/disabled does not exist, is disabled or deleted, or the project number is wrong/,
      /gcloud iam workload-identity-pools providers describe projects\/123456\/locations\/global\/workloadIdentityPools\/idbridge\/providers\/disabled/,
    );
    expectStep(result, 'impersonate', 'skip');
    expect(exitCode(result.checks)).toBe(2);
  });

  it('invalid_target: no such provider (wrong project number)', async () => {
    const result = await run({
      config: {
        provider: parseProvider(
          'projects/999/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
        ),
      },
    });
    expectStep(result, 'exchange', 'fail', /invalid_target/, /project by NUMBER/);
  });

  it('invalid_grant: issuer unreachable', async () => {
    const result = await run({ provider: 'unreachable' });
    expectStep(
      result,
      'exchange',
      'fail',
      /invalid_grant: Google could not fetch the issuer documents/,
      /idbridge doctor --issuer=http:\/\/127\.0\.0\.1:\d+\/c1 --token=.*token-\d+ --provider=projects\/123456\//,
    );
    expect(find(result, 'exchange').details?.[0]).toMatch(
      /Google said: 400 invalid_grant — Error connecting/,
    );
  });

  it('invalid_grant: issuer mismatch, with the update-oidc command', async () => {
    const result = await run({ provider: 'other-issuer' });
    expectStep(
      result,
      'exchange',
      'fail',
      /issuer does not match/,
      /gcloud iam workload-identity-pools providers update-oidc projects\/123456\/locations\/global\/workloadIdentityPools\/idbridge\/providers\/other-issuer --issuer-uri=http:\/\/127\.0\.0\.1:\d+\/c1/,
    );
  });

  it('invalid_grant: signing key not yet seen by Google', async () => {
    const result = await run({ key: generateClusterKey('RS256') });
    expectStep(
      result,
      'exchange',
      'fail',
      /has not seen the key that signed this token/,
      /publish the cluster's current keys/,
    );
  });

  it('invalid_grant: audience not accepted (also flagged before the exchange)', async () => {
    const result = await run({ audience: 'https://kubernetes.default.svc.cluster.local' });
    expectStep(result, 'token', 'warn', undefined, /not the provider's default/);
    expectStep(
      result,
      'exchange',
      'fail',
      /audience \["https:\/\/kubernetes\.default\.svc\.cluster\.local"\] is not one the provider accepts/,
      /audience to \/\/iam\.googleapis\.com\/projects\/123456\//,
    );
  });

  it('unauthorized_client: the attribute condition', async () => {
    const result = await run({ provider: 'prod-only' });
    expectStep(
      result,
      'exchange',
      'fail',
      /unauthorized_client: .*sub system:serviceaccount:apps:web, namespace apps, ServiceAccount web/,
      /--format='value\(attributeCondition\)'/,
    );
  });

  it('PERMISSION_DENIED: prints the exact add-iam-policy-binding command with the principal:// member', async () => {
    const result = await run({ serviceAccount: OTHER_SA });
    expectStep(result, 'exchange', 'pass');
    const member = `principal://iam.googleapis.com/projects/${PROJECT}/locations/global/workloadIdentityPools/idbridge/subject/system:serviceaccount:apps:web`;
    expectStep(
      result,
      'impersonate',
      'fail',
      /PERMISSION_DENIED: .* may not impersonate other@proj\.iam\.gserviceaccount\.com/,
    );
    expect(find(result, 'impersonate').fix).toContain(
      `gcloud iam service-accounts add-iam-policy-binding projects/-/serviceAccounts/${OTHER_SA} --role=roles/iam.workloadIdentityUser --member=${member}`,
    );
  });

  it('Google STS failing with a 503 is transient', async () => {
    google.failNext('token', { status: 503, body: JSON.stringify({ error: 'unavailable' }) });
    const result = await run();
    expectStep(result, 'exchange', 'fail', /failed with HTTP 503/, /retry/);
  });

  it('IAM Credentials lifetime refused', async () => {
    google.failNext('generateAccessToken', {
      status: 400,
      body: JSON.stringify({
        error: {
          code: 400,
          message: 'The lifetime must be between 1 and 43200 seconds.',
          status: 'INVALID_ARGUMENT',
        },
      }),
    });
    const result = await run();
    expectStep(
      result,
      'impersonate',
      'fail',
      /lifetime is refused/,
      /allowServiceAccountCredentialLifetimeExtension/,
    );
  });

  it('token_url unreachable: suggests the broker', async () => {
    const result = await run({ tokenUrl: `http://127.0.0.1:${closedPort}` });
    expectStep(
      result,
      'exchange',
      'fail',
      /cannot reach token_url .*connection refused/,
      /--broker/,
    );
  });

  it('no credential configuration at all', async () => {
    const result = await whoami(
      {},
      {
        readFile: (path) => readFile(path, 'utf8'),
        fetch,
        timeoutMs: 1000,
        clock: () => 0,
        now: Date.now,
      },
    );
    expectStep(
      result,
      'config',
      'fail',
      /GOOGLE_APPLICATION_CREDENTIALS is not set/,
      /idbridge webhook/,
    );
    expect(result.checks.slice(1).every((c) => c.verdict === 'skip')).toBe(true);
  });

  it.each([
    ['missing file', null, /cannot read .*: ENOENT/],
    ['not JSON', 'nope', /is not JSON/],
    [
      'a service account key',
      JSON.stringify({ type: 'service_account', private_key: 'x' }),
      /not a usable external_account configuration/,
    ],
  ])('a bad configuration: %s', async (_name, content, summary) => {
    const path = join(dir.path, `bad-${++n}.json`);
    if (content !== null) await writeFile(path, content);
    const result = await whoami(
      { credentialsPath: path },
      {
        readFile: (p) => readFile(p, 'utf8'),
        fetch,
        timeoutMs: 1000,
        clock: () => 0,
        now: Date.now,
      },
    );
    expectStep(result, 'config', 'fail', summary);
  });

  it('the token file missing', async () => {
    const path = join(dir.path, `cfg-${++n}.json`);
    await writeFile(
      path,
      JSON.stringify(
        externalAccountConfig({
          provider: parseProvider(providerPath('cluster-c1')),
          tokenPath: join(dir.path, 'absent'),
          stsUrl: google.url,
        }),
      ),
    );
    const result = await whoami(
      { credentialsPath: path },
      {
        readFile: (p) => readFile(p, 'utf8'),
        fetch,
        timeoutMs: 1000,
        clock: () => 0,
        now: Date.now,
      },
    );
    expectStep(
      result,
      'token',
      'fail',
      /does not exist: is the projected serviceAccountToken volume mounted/,
    );
  });
});
