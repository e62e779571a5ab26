import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { compareUploadedKeys } from '../../src/doctor/uploaded-keys.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeIamAdmin, type FakeIamAdmin } from '../fakes/iam-admin.js';
import { startFakeKubeApiserver } from '../fakes/kube-apiserver.js';
import { runCli } from '../support/cli.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { tempDir } from '../support/serve.js';

const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/fleet/providers/private-c1',
);
const [a, b, c] = [
  generateClusterKey('ES256'),
  generateClusterKey('ES256'),
  generateClusterKey('RS256'),
];

/** `doctor --wif-provider`: the provider's uploaded keys against the cluster's live JWKS. */
describe('compareUploadedKeys', () => {
  it('passes when the sets match, order aside', () => {
    const checks = compareUploadedKeys([b.jwk, a.jwk], [a.jwk, b.jwk], provider);
    expect(checks).toEqual([expect.objectContaining({ id: 'provider.keys', verdict: 'pass' })]);
  });

  it('reports missing, stale and extra keys, each with the sync fix', () => {
    const staleA = { ...c.jwk, kid: a.kid };
    const checks = compareUploadedKeys([staleA, c.jwk], [a.jwk, b.jwk], provider);
    expect(checks.map((check) => [check.id, check.verdict])).toEqual([
      ['provider.keys.missing', 'fail'],
      ['provider.keys.stale', 'fail'],
      ['provider.keys.extra', 'warn'],
    ]);
    expect(checks[0]!.summary).toContain(JSON.stringify(b.kid));
    expect(checks[1]!.summary).toContain(JSON.stringify(a.kid));
    expect(checks[2]!.summary).toContain(JSON.stringify(c.kid));
    for (const check of checks)
      expect(check.fix).toContain(`idbridge sync --once --target wif-provider://${provider.path}`);
  });
});

describe('idbridge doctor --wif-provider (the built CLI, Application Default Credentials)', () => {
  const issuer = 'https://kubernetes.default.svc.cluster.local';
  let google: FakeGoogle;
  let iam: FakeIamAdmin;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: Record<string, string>;
  const pool = 'projects/123456/locations/global/workloadIdentityPools/fleet';

  beforeAll(async () => {
    dir = await tempDir();
    google = await startFakeGoogle({
      providers: [
        {
          path: provider.path,
          issuerUri: issuer,
          jwksJson: () => iam.providers.get(provider.path)?.oidc.jwksJson,
        },
      ],
    });
    iam = await startFakeIamAdmin({ google });
    iam.providers.set(provider.path, {
      name: provider.path,
      oidc: { issuerUri: issuer, jwksJson: JSON.stringify(jwksOf(a, c)) },
      attributeMapping: { 'google.subject': 'assertion.sub' },
    });
    const tokenPath = join(dir.path, 'token');
    await writeFile(
      tokenPath,
      await signKubeToken(a, {
        issuer,
        audience: provider.audience,
        namespace: 'ops',
        serviceAccount: 'doctor',
      }),
    );
    const credentials = join(dir.path, 'google.json');
    await writeFile(
      credentials,
      JSON.stringify(
        externalAccountConfig({ provider, tokenPath, stsUrl: google.url, format: 'text' }),
      ),
    );
    env = {
      GOOGLE_APPLICATION_CREDENTIALS: credentials,
      IDBRIDGE_IAM_URL: iam.url,
      HOME: dir.path,
    };
  });
  afterAll(async () => {
    await iam?.close();
    await google?.close();
    await dir?.remove();
  });

  it('reports the missing and extra keys against --jwks and exits 2', async () => {
    iam.grant(
      `principal://iam.googleapis.com/${pool}/subject/system:serviceaccount:ops:doctor`,
      'roles/iam.workloadIdentityPoolViewer',
      pool,
    );
    const jwks = join(dir.path, 'jwks.json');
    await writeFile(jwks, JSON.stringify(jwksOf(a, b)));
    const result = await runCli(
      ['doctor', '--wif-provider', provider.path, '--jwks', jwks, '--json'],
      env,
    );
    expect(result.code, result.stderr).toBe(2);
    const report = JSON.parse(result.stdout) as { checks: Array<{ id: string; verdict: string }> };
    expect(report.checks.map((check) => [check.id, check.verdict])).toEqual([
      ['provider.read', 'pass'],
      ['provider.keys.missing', 'fail'],
      ['provider.keys.extra', 'warn'],
    ]);
  });

  it('reads the live JWKS and issuer from the kube-apiserver, and passes when they match', async () => {
    const kube = await startFakeKubeApiserver({ issuer, key: a });
    try {
      kube.addKey(c);
      const kubeconfig = await kube.writeKubeconfig(
        dir.path,
        await kube.issueToken({
          namespace: 'ops',
          serviceAccount: 'doctor',
          audience: kube.apiAudience,
        }),
      );
      const result = await runCli(
        ['doctor', '--wif-provider', provider.path, '--kubeconfig', kubeconfig, '--json'],
        env,
      );
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as {
        checks: Array<{ id: string; verdict: string }>;
      };
      expect(report.checks.map((check) => [check.id, check.verdict])).toEqual([
        ['provider.read', 'pass'],
        ['provider.issuer', 'pass'],
        ['provider.keys', 'pass'],
      ]);
    } finally {
      await kube.close();
    }
  });

  it('a caller without the grant gets the role to ask for', async () => {
    iam.revoke(`principal://iam.googleapis.com/${pool}/subject/system:serviceaccount:ops:doctor`);
    const jwks = join(dir.path, 'jwks.json');
    const result = await runCli(['doctor', '--wif-provider', provider.path, '--jwks', jwks], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/PERMISSION_DENIED/);
    expect(result.stdout).toMatch(/roles\/iam\.workloadIdentityPoolAdmin/);
  });
});
