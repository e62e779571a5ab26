import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_STS_ALGORITHMS, cloudChecks } from '../../src/doctor/cloud-checks.js';
import { runDoctor } from '../../src/doctor/doctor.js';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import type { Check } from '../../src/report/report.js';
import { startFixtureIssuer, type FixtureIssuer } from '../support/fixture-issuer.js';
import { runCli } from '../support/cli.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';

/** doctor --cloud aws|azure: each cloud's own rules, each failure named with its fix. */

const ISSUER = 'https://issuer.example.com/c1';
const byId = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.id, c]));

describe('doctor --cloud aws|azure, as plain checks', () => {
  const rsa = generateClusterKey('RS256');
  const p384 = generateClusterKey('ES384');
  const now = Date.now();

  it('AWS: HTTPS, the algorithms STS accepts (ES384 included, unlike Google), the audience', async () => {
    const token = await signKubeToken(p384, { issuer: ISSUER, audience: 'sts.amazonaws.com' });
    const checks = byId(
      cloudChecks('aws', { issuer: ISSUER, keys: [p384.jwk as never], token, now }),
    );
    expect(checks['aws.https']!.verdict).toBe('pass');
    expect(checks['aws.algorithms']!.verdict).toBe('pass');
    expect(checks['aws.alg']!.verdict).toBe('pass');
    expect(checks['aws.aud']!.verdict).toBe('pass');
    expect(AWS_STS_ALGORITHMS).toEqual(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512']);
  });

  it('AWS: each failure is named with its fix', async () => {
    const token = await signKubeToken(rsa, {
      issuer: ISSUER,
      audience: 'https://kubernetes.default.svc',
    });
    const checks = byId(
      cloudChecks('aws', {
        issuer: 'http://issuer.example.com/c1',
        keys: [{ kid: 'k', kty: 'RSA', alg: 'PS256' }],
        token,
        now,
      }),
    );
    expect(checks['aws.https']).toMatchObject({
      verdict: 'fail',
      fix: expect.stringMatching(/https:\/\//),
    });
    expect(checks['aws.algorithms']).toMatchObject({
      verdict: 'fail',
      details: ['kid "k": PS256'],
    });
    expect(checks['aws.aud']).toMatchObject({
      verdict: 'fail',
      summary: expect.stringMatching(/lacks sts\.amazonaws\.com/),
      fix: expect.stringMatching(/eks\.amazonaws\.com\/audience/),
    });
  });

  it('Entra ID: the exact issuer (a trailing slash is a mismatch), the sub form, the audience', async () => {
    const good = await signKubeToken(rsa, {
      issuer: ISSUER,
      audience: 'api://AzureADTokenExchange',
      namespace: 'apps',
      serviceAccount: 'web',
    });
    const ok = byId(cloudChecks('azure', { issuer: ISSUER, token: good, now }));
    expect(
      ['azure.https', 'azure.issuer', 'azure.subject', 'azure.aud'].map((id) => ok[id]!.verdict),
    ).toEqual(['pass', 'pass', 'pass', 'pass']);

    const bad = await signKubeToken(rsa, {
      issuer: `${ISSUER}/`,
      audience: 'sts.amazonaws.com',
      claims: { sub: 'user:alice' },
    });
    const checks = byId(cloudChecks('azure', { issuer: ISSUER, token: bad, now }));
    expect(checks['azure.issuer']).toMatchObject({
      verdict: 'fail',
      summary: expect.stringMatching(/trailing slash/),
      fix: expect.stringMatching(
        /federated-credential update --issuer https:\/\/issuer\.example\.com\/c1/,
      ),
    });
    expect(checks['azure.subject']).toMatchObject({
      verdict: 'fail',
      summary: expect.stringMatching(/not system:serviceaccount:NAMESPACE:NAME/),
    });
    expect(checks['azure.aud']!.verdict).toBe('fail');
    // The audience given replaces the default.
    const custom = byId(
      cloudChecks('azure', { issuer: ISSUER, token: bad, now, audiences: ['sts.amazonaws.com'] }),
    );
    expect(custom['azure.aud']!.verdict).toBe('pass');
  });
});

describe('doctor --cloud over HTTP: Google-only checks give way to the cloud', () => {
  let issuer: FixtureIssuer;
  const key = generateClusterKey('ES384');
  beforeAll(async () => {
    issuer = await startFixtureIssuer();
    const url = `${issuer.url}/c1`;
    issuer.set('/c1/.well-known/openid-configuration', {
      body: buildDiscovery(url, [key.jwk]),
    });
    issuer.set('/c1/openid/v1/jwks', {
      body: jwksOf(key),
      headers: { 'content-type': 'application/jwk-set+json' },
    });
  });
  afterAll(async () => issuer?.close());

  const run = async (cloud: 'gcp' | 'aws') => {
    const url = `${issuer.url}/c1`;
    const token = await signKubeToken(key, { issuer: url, audience: 'sts.amazonaws.com' });
    return byId(
      await runDoctor(
        { issuer: url, token, cloud },
        { fetch, timeoutMs: 5000, clock: () => performance.now(), now: Date.now },
      ),
    );
  };

  it('an ES384 cluster fails Google and passes AWS STS on algorithms', async () => {
    const google = await run('gcp');
    expect(google['jwks.algorithms']!.verdict).toBe('fail');
    const aws = await run('aws');
    expect(aws['jwks.algorithms']).toBeUndefined();
    expect(aws['token.alg']).toBeUndefined();
    expect(aws['aws.algorithms']!.verdict).toBe('pass');
    expect(aws['aws.alg']!.verdict).toBe('pass');
    expect(aws['aws.aud']!.verdict).toBe('pass');
    expect(aws['token.signature']!.verdict).toBe('pass');
    // A loopback http issuer is fine for a local test, never for AWS.
    expect(aws['aws.https']!.verdict).toBe('fail');
  });
});

describe('idbridge doctor --cloud, through the CLI', () => {
  it('refuses an unknown cloud as a usage error (exit 2)', async () => {
    const result = await runCli(['doctor', '--cloud', 'oracle', '--issuer', ISSUER]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--cloud.*oracle.*gcp, aws, azure/s);
  });

  it('--cloud aws --json reports the AWS checks by their ids', async () => {
    const issuer = await startFixtureIssuer();
    try {
      const result = await runCli([
        'doctor',
        '--cloud',
        'aws',
        '--json',
        '--timeout',
        '5',
        '--issuer',
        `${issuer.url}/c1`,
      ]);
      expect(result.code).toBe(2);
      const report = JSON.parse(result.stdout) as { checks: Check[] };
      expect(report.checks.find((c) => c.id === 'aws.https')!.verdict).toBe('fail');
      expect(report.checks.some((c) => c.id === 'jwks.algorithms')).toBe(false);
    } finally {
      await issuer.close();
    }
  });
});
