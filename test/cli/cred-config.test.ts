import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalFor, startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { runCli } from '../support/cli.js';
import { gcloud } from '../support/gcloud.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { registerCluster, startServe, tempDir, type ServeHarness } from '../support/serve.js';

const PROVIDER =
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1';
const SA = 'app@proj.iam.gserviceaccount.com';
const TOKEN_PATH = '/var/run/secrets/idbridge/serviceaccount/token';

describe('idbridge cred-config', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let n = 0;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => dir?.remove());

  /** Runs gcloud and idbridge with the same flags; returns both files' bytes. */
  async function both(
    flags: string[],
    idbridgeProvider = PROVIDER,
  ): Promise<{ gcloud: string; idbridge: string }> {
    const id = ++n;
    const gcloudFile = join(dir.path, `gcloud-${id}.json`);
    const idbridgeFile = join(dir.path, `idbridge-${id}.json`);
    const [g, i] = await Promise.all([
      gcloud(
        [
          'iam',
          'workload-identity-pools',
          'create-cred-config',
          PROVIDER,
          ...flags,
          `--output-file=${gcloudFile}`,
        ],
        undefined,
      ),
      runCli(['cred-config', idbridgeProvider, ...flags, `--output-file=${idbridgeFile}`]),
    ]);
    expect(g.code, g.stderr).toBe(0);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stderr).toBe(`Created credential configuration file [${idbridgeFile}].\n`);
    return {
      gcloud: await readFile(gcloudFile, 'utf8'),
      idbridge: await readFile(idbridgeFile, 'utf8'),
    };
  }

  const cases: Array<[string, string[]]> = [
    ['direct principal access', [`--credential-source-file=${TOKEN_PATH}`]],
    [
      'direct access, text source',
      [`--credential-source-file=${TOKEN_PATH}`, '--credential-source-type=text'],
    ],
    ['impersonation', [`--credential-source-file=${TOKEN_PATH}`, `--service-account=${SA}`]],
    [
      'impersonation with a token lifetime, text source',
      [
        `--credential-source-file=${TOKEN_PATH}`,
        `--service-account=${SA}`,
        '--service-account-token-lifetime-seconds=1800',
        '--credential-source-type=text',
      ],
    ],
    [
      'the longest lifetime',
      [
        `--credential-source-file=${TOKEN_PATH}`,
        `--service-account=${SA}`,
        '--service-account-token-lifetime-seconds=43200',
      ],
    ],
  ];
  for (const [name, flags] of cases) {
    // gcloud takes seconds to start: these run side by side.
    it.concurrent(`writes byte for byte what gcloud writes: ${name}`, async () => {
      const files = await both(flags);
      expect(files.idbridge).toBe(files.gcloud);
      expect(JSON.parse(files.idbridge).type).toBe('external_account');
    });
  }

  it.concurrent(
    'accepts the //iam.googleapis.com/ form of the provider (gcloud would prefix it twice)',
    async () => {
      const files = await both(
        [`--credential-source-file=${TOKEN_PATH}`, `--service-account=${SA}`],
        `//iam.googleapis.com/${PROVIDER}`,
      );
      expect(files.idbridge).toBe(files.gcloud);
    },
  );

  it.concurrent.each([
    [['--service-account-token-lifetime-seconds=1800']],
    [[`--service-account=${SA}`, '--service-account-token-lifetime-seconds=100']],
    [[`--service-account=${SA}`, '--service-account-token-lifetime-seconds=50000']],
  ])('refuses what gcloud refuses, with exit code 2: %j', async (flags) => {
    {
      const [g, i] = await Promise.all([
        gcloud(
          [
            'iam',
            'workload-identity-pools',
            'create-cred-config',
            PROVIDER,
            `--credential-source-file=${TOKEN_PATH}`,
            ...flags,
            `--output-file=${join(dir.path, 'never.json')}`,
          ],
          undefined,
        ),
        runCli(['cred-config', PROVIDER, `--credential-source-file=${TOKEN_PATH}`, ...flags]),
      ]);
      expect(g.code, flags.join(' ')).not.toBe(0);
      expect(i.code, flags.join(' ')).toBe(2);
      expect(i.stdout).toBe('');
      expect(i.stderr).toMatch(/^idbridge: .*(--service-account|600.43200)/);
    }
  });

  it.each([
    [
      [
        'projects/my-proj/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
        `--credential-source-file=${TOKEN_PATH}`,
      ],
      /project NUMBER/,
    ],
    [
      [PROVIDER, `--credential-source-file=${TOKEN_PATH}`, '--service-account=not-an-email'],
      /not a Google service account email/,
    ],
    [
      [
        PROVIDER,
        `--credential-source-file=${TOKEN_PATH}`,
        `--service-account=${SA}`,
        '--service-account-token-lifetime-seconds=1h',
      ],
      /whole number of seconds/,
    ],
    [
      [PROVIDER, `--credential-source-file=${TOKEN_PATH}`, '--broker=ftp://broker'],
      /--broker: ftp: URLs/,
    ],
    [
      [PROVIDER, `--credential-source-file=${TOKEN_PATH}`, '--credential-source-type=json'],
      /Allowed choices are text/,
    ],
    [[PROVIDER], /required option '--credential-source-file <path>'/],
  ])('refuses bad input %j', async (args, message) => {
    const result = await runCli(['cred-config', ...args]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('prints to stdout without --output-file, and warns about a plain-HTTP broker on stderr', async () => {
    const result = await runCli([
      'cred-config',
      PROVIDER,
      `--credential-source-file=${TOKEN_PATH}`,
      '--broker=http://broker.example.com',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).token_url).toBe('http://broker.example.com/v1/token');
    expect(result.stderr).toMatch(/plain HTTP/);
  });
});

describe('idbridge cred-config --broker: a Google SDK follows it', () => {
  const key = generateClusterKey('RS256');
  let issuer: ServeHarness;
  let broker: FakeGoogle;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    dir = await tempDir();
    issuer = await startServe();
    await registerCluster(issuer, 'c1', jwksOf(key));
    const provider = { path: PROVIDER, issuerUri: `${issuer.url}/c1` };
    // Stands in for the broker: the broker speaks exactly Google's paths and shapes.
    broker = await startFakeGoogle({
      providers: [provider],
      serviceAccounts: [
        {
          email: SA,
          workloadIdentityUsers: [principalFor(provider, 'system:serviceaccount:apps:web')],
        },
      ],
    });
  });
  afterAll(async () => {
    await broker?.close();
    await issuer?.close();
    await dir?.remove();
  });

  it.each([
    ['with a service account', [`--service-account=${SA}`], /^ya29\.sa\./],
    ['direct access', [], /^ya29\.fed\./],
  ])('%s', async (_name, extra, expected) => {
    const tokenPath = join(dir.path, `token-${extra.length}`);
    await writeFile(
      tokenPath,
      await signKubeToken(key, {
        issuer: `${issuer.url}/c1`,
        audience: `//iam.googleapis.com/${PROVIDER}`,
        namespace: 'apps',
        serviceAccount: 'web',
      }),
    );
    const configPath = join(dir.path, `config-${extra.length}.json`);
    const result = await runCli([
      'cred-config',
      PROVIDER,
      `--credential-source-file=${tokenPath}`,
      `--broker=${broker.url}/`,
      ...extra,
      `--output-file=${configPath}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/warning/);
    const token = await new GoogleAuth({
      keyFilename: configPath,
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    }).getAccessToken();
    expect(token).toMatch(expected);
  });
});
