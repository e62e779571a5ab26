import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { principalFor, startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { runCli } from '../support/cli.js';
import { startFixtureIssuer, type FixtureIssuer } from '../support/fixture-issuer.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import {
  IDBRIDGE_BIN,
  registerCluster,
  startServe,
  tempDir,
  type ServeHarness,
} from '../support/serve.js';

const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
);
const SA = 'app@proj.iam.gserviceaccount.com';

/** The real binary: exit codes, stdout/stderr, --json, no colour when not a terminal, no tokens shown. */
describe('idbridge doctor and whoami, as commands', () => {
  const key = generateClusterKey('RS256');
  let server: ServeHarness;
  let fixture: FixtureIssuer;
  let google: FakeGoogle;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let issuer: string;
  let tokenFile: string;
  let token: string;

  beforeAll(async () => {
    dir = await tempDir();
    server = await startServe();
    await registerCluster(server, 'c1', jwksOf(key));
    issuer = `${server.url}/c1`;
    token = await signKubeToken(key, {
      issuer,
      audience: provider.audience,
      namespace: 'apps',
      serviceAccount: 'web',
    });
    tokenFile = join(dir.path, 'token');
    await writeFile(tokenFile, token);
    fixture = await startFixtureIssuer();
    const fakeProvider = { path: provider.path, issuerUri: issuer };
    google = await startFakeGoogle({
      providers: [fakeProvider],
      serviceAccounts: [
        {
          email: SA,
          workloadIdentityUsers: [principalFor(fakeProvider, 'system:serviceaccount:apps:web')],
        },
      ],
    });
  });
  afterAll(async () => {
    await google?.close();
    await fixture?.close();
    await server?.close();
    await dir?.remove();
  });

  it('doctor: a healthy issuer and token exit 0, plain text without colour codes', async () => {
    const result = await runCli([
      'doctor',
      '--issuer',
      issuer,
      '--token',
      tokenFile,
      '--provider',
      provider.path,
    ]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/^idbridge doctor: issuer http:\/\/127\.0\.0\.1:\d+\/c1\n/);
    expect(result.stdout).toMatch(/\nPASS  27 pass\n$/);
    expect(result.stdout).not.toMatch(/\x1b\[/);
    expect(result.stdout).not.toContain(token.split('.')[2]);
    expect(result.stderr).toBe('');
  });

  it('doctor colours verdicts on a terminal (a pty from script(1)), unless NO_COLOR is set', async () => {
    const onTty = (env: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        execFile(
          'script',
          ['-qec', `${process.execPath} ${IDBRIDGE_BIN} doctor --issuer ${issuer}`, '/dev/null'],
          { env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env } },
          (error, stdout) => (error ? reject(error) : resolve(stdout)),
        );
      });
    expect(await onTty({})).toContain('\x1b[32mPASS\x1b[0m  issuer.url');
    expect(await onTty({ NO_COLOR: '1' })).not.toMatch(/\x1b\[/);
  });

  it('doctor --cluster --api with the admin token checks the registered issuer and its keys', async () => {
    const result = await runCli(['doctor', '--cluster', 'c1', '--api', server.url, '--json'], {
      IDBRIDGE_ADMIN_TOKEN: server.adminToken,
    });
    expect(result.code, result.stdout).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.issuer).toBe(issuer);
    expect(report.checks.find((c: { id: string }) => c.id === 'jwks.registered')).toMatchObject({
      verdict: 'pass',
    });
    expect(result.stdout).not.toContain(server.adminToken);
  });

  it('doctor: warnings only exit 1', async () => {
    fixture.set('/warn/.well-known/openid-configuration', {
      body: {
        issuer: `${fixture.url}/warn`,
        jwks_uri: `${fixture.url}/warn/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      },
      headers: { 'cache-control': 'max-age=300' },
    });
    fixture.set('/warn/jwks', { body: jwksOf(key), headers: { 'cache-control': 'max-age=7200' } });
    const result = await runCli(['doctor', '--issuer', `${fixture.url}/warn`]);
    expect(result.code, result.stdout).toBe(1);
    expect(result.stdout).toMatch(/WARN  jwks\.cache: the JWKS may be cached for 2 h/);
    expect(result.stdout).toMatch(/\nWARN  1 warn, 16 pass\n$/);
  });

  it('doctor: failures exit 2; --json lists each check with its fix', async () => {
    const result = await runCli(['doctor', '--issuer', `${issuer}/`, '--json']);
    expect(result.code).toBe(2);
    const report = JSON.parse(result.stdout);
    expect(report.outcome).toBe('fail');
    expect(report.checks.find((c: { id: string }) => c.id === 'discovery.issuer')).toMatchObject({
      verdict: 'fail',
      fix: expect.stringContaining(
        "(no trailing slash) everywhere: the provider's --issuer-uri, the kube-apiserver's --service-account-issuer",
      ),
    });
  });

  it.each([
    [['doctor'], /doctor needs --issuer URL, or --cluster ID with --api URL/],
    [
      ['doctor', '--issuer', 'https://a.example/c1', '--cluster', 'c1'],
      /either --issuer URL or --cluster ID --api URL, not both/,
    ],
    [
      ['doctor', '--issuer', 'https://a.example/c1', '--token', '/nonexistent'],
      /cannot read --token \/nonexistent: ENOENT/,
    ],
    [
      ['doctor', '--issuer', 'https://a.example/c1', '--provider', 'projects/x'],
      /not a workload identity provider/,
    ],
    [
      ['doctor', '--issuer', 'https://a.example/c1', '--timeout', '0'],
      /--timeout <seconds>' argument '0' is invalid/,
    ],
    [['whoami', '--timeout', 'soon'], /argument 'soon' is invalid/],
  ])('usage errors exit 2: %j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('whoami in a pod: reads GOOGLE_APPLICATION_CREDENTIALS, exits 0, shows the identity and never a token', async () => {
    const config = join(dir.path, 'credentials.json');
    await writeFile(
      config,
      JSON.stringify(
        externalAccountConfig({
          provider,
          tokenPath: tokenFile,
          stsUrl: google.url,
          iamCredentialsUrl: google.url,
          serviceAccountEmail: SA,
        }),
      ),
    );
    const result = await runCli(['whoami'], { GOOGLE_APPLICATION_CREDENTIALS: config });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(
      /PASS  exchange: federated token for principal:\/\/iam\.googleapis\.com\/projects\/123456\/locations\/global\/workloadIdentityPools\/idbridge\/subject\/system:serviceaccount:apps:web, expires in 60 min \(\d+ ms\)/,
    );
    expect(result.stdout).toMatch(
      /PASS  impersonate: Google service account app@proj\.iam\.gserviceaccount\.com, access token expires \S+ \(in 60 min\) \(\d+ ms\)/,
    );
    expect(result.stdout).toContain(
      'Kubernetes identity:  ServiceAccount apps/web, pod web-pod (system:serviceaccount:apps:web)',
    );
    expect(result.stdout).toContain(`Google identity:      ${SA}`);
    expect(result.stdout).not.toMatch(/ya29\.|eyJ/);
    const json = JSON.parse((await runCli(['whoami', '--json', '--credentials', config])).stdout);
    expect(json).toMatchObject({
      outcome: 'pass',
      identity: { googleServiceAccount: SA, provider: provider.path },
    });
    expect(JSON.stringify(json)).not.toMatch(/ya29\.|eyJ/);
  });

  it('whoami: a refusal exits 2 with the fix', async () => {
    const config = join(dir.path, 'credentials-other.json');
    await writeFile(
      config,
      JSON.stringify(
        externalAccountConfig({
          provider,
          tokenPath: tokenFile,
          stsUrl: google.url,
          iamCredentialsUrl: google.url,
          serviceAccountEmail: 'other@proj.iam.gserviceaccount.com',
        }),
      ),
    );
    const result = await runCli(['whoami'], { GOOGLE_APPLICATION_CREDENTIALS: config });
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/FAIL  impersonate: PERMISSION_DENIED/);
    expect(result.stdout).toMatch(
      /fix: grant it: gcloud iam service-accounts add-iam-policy-binding projects\/-\/serviceAccounts\/other@proj\.iam\.gserviceaccount\.com --role=roles\/iam\.workloadIdentityUser --member=principal:\/\//,
    );
  });

  it('whoami without GOOGLE_APPLICATION_CREDENTIALS exits 2 and says how to get one', async () => {
    const result = await runCli(['whoami']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/FAIL  config: GOOGLE_APPLICATION_CREDENTIALS is not set/);
  });

  it('every command and flag has help', async () => {
    const root = await runCli(['--help']);
    expect(root.code).toBe(0);
    for (const command of ['doctor', 'whoami', 'cred-config', 'clusters', 'gcp-setup'])
      expect(root.stdout).toMatch(new RegExp(`\\n  ${command}\\b`));
    for (const args of [
      ['doctor'],
      ['whoami'],
      ['cred-config'],
      ['gcp-setup'],
      ['clusters', 'create'],
      ['clusters', 'list'],
      ['clusters', 'get'],
      ['clusters', 'update'],
      ['clusters', 'delete'],
    ]) {
      const help = await runCli([...args, '--help']);
      expect(help.code, args.join(' ')).toBe(0);
      // Every option line carries a description.
      const options = help.stdout.split('\n').filter((line) => /^  -/.test(line));
      expect(options.length).toBeGreaterThan(0);
      for (const line of options)
        expect(line.trim(), `${args.join(' ')}: ${line}`).toMatch(/^\S.*\s{2,}\S/);
    }
  });
});
