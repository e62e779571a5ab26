import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addPoolIamBindingCommand,
  addWorkloadIdentityUserCommand,
  POOL_ADMIN,
  principalMember,
} from '../../src/gcp-setup/gcloud.js';
import {
  ATTRIBUTE_MAPPING,
  gcpSetupPlan,
  RECOMMENDED_CONDITION,
  renderPlan,
  SYNC_SUBJECT,
} from '../../src/gcp-setup/plan.js';
import { shellCommand, shellQuote } from '../../src/gcp-setup/shell.js';
import { runCli } from '../support/cli.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { gcloudAgainstIamFake } from '../support/gcloud-iam.js';

const SA = 'app@proj.iam.gserviceaccount.com';

describe('shell quoting of printed commands', () => {
  it.each([
    ['plain', 'plain'],
    ['', "''"],
    ['with space', "'with space'"],
    ["assertion['x']", '"assertion[\'x\']"'],
    ["it's $HOME", "'it'\\''s $HOME'"],
    ['a"b', "'a\"b'"],
  ])('%j → %s', (arg, quoted) => expect(shellQuote(arg)).toBe(quoted));

  it('bash reads every quoted argument back unchanged', async () => {
    const args = [
      'plain',
      'with space',
      "assertion['kubernetes.io']['namespace']",
      'it\'s $HOME `x` \\ "q" !',
      'tab\there',
      '',
    ];
    const echoed = await new Promise<string>((resolve, reject) => {
      execFile(
        'bash',
        ['-c', `printf '%s\\0' ${args.map(shellQuote).join(' ')}`],
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
    expect(echoed.split('\0').slice(0, -1)).toEqual(args);
  });
});

// Each case starts gcloud (Python) several times: about 20 s alone, more on a loaded machine.
describe(
  'idbridge gcp-setup: the printed commands, run by gcloud against a fake IAM API',
  { timeout: 120_000 },
  () => {
    const gcloud = gcloudAgainstIamFake(120_000);

    it('creates the pool, the OIDC provider and the binding exactly as planned', async () => {
      const { iam } = gcloud;
      const cli = await runCli([
        'gcp-setup',
        '--project-number=123456',
        '--issuer=https://edge.example.com/cluster-c1',
        `--service-account=${SA}`,
        '--namespace=apps',
        '--kube-service-account=web',
      ]);
      expect(cli.code, cli.stderr).toBe(0);
      const result = await gcloud.run(cli.stdout);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/Created workload identity pool \[idbridge\]/);
      expect(result.stderr).toMatch(/Created workload identity pool provider \[cluster-c1\]/);

      expect(
        iam.pools.get('projects/123456/locations/global/workloadIdentityPools/idbridge'),
      ).toMatchObject({ displayName: 'idbridge' });
      const provider = iam.providers.get(
        'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
      );
      expect(provider).toMatchObject({
        oidc: { issuerUri: 'https://edge.example.com/cluster-c1' },
        attributeMapping: ATTRIBUTE_MAPPING,
        attributeCondition: RECOMMENDED_CONDITION,
      });
      expect(provider!.oidc.allowedAudiences).toBeUndefined();
      expect(iam.policies.get(SA)?.bindings).toEqual([
        {
          role: 'roles/iam.workloadIdentityUser',
          members: [
            'principal://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/subject/system:serviceaccount:apps:web',
          ],
        },
      ]);
    });

    it('a namespace-wide binding uses principalSet on attribute.namespace; a custom condition survives quoting', async () => {
      const { iam } = gcloud;
      const condition =
        "assertion['kubernetes.io']['namespace'] in ['team-a', 'team-b'] && assertion.sub != 'x'";
      const plan = gcpSetupPlan({
        projectNumber: '123456',
        pool: 'idbridge',
        issuer: 'https://edge.example.com/c-two',
        provider: 'c-two',
        serviceAccount: 'team@proj.iam.gserviceaccount.com',
        namespace: 'team-a',
        attributeCondition: condition,
        createPool: false,
      });
      expect(plan.steps).toHaveLength(2);
      const result = await gcloud.run(renderPlan(plan));
      expect(result.code, result.stderr).toBe(0);
      expect(
        iam.providers.get(
          'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/c-two',
        )?.attributeCondition,
      ).toBe(condition);
      expect(iam.policies.get('team@proj.iam.gserviceaccount.com')?.bindings[0]?.members).toEqual([
        'principalSet://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/attribute.namespace/team-a',
      ]);
    });

    it('--jwk-json-path: the provider gets the uploaded keys and the sync job its grant on the pool', async () => {
      const { iam } = gcloud;
      const jwks = JSON.stringify(jwksOf(generateClusterKey('RS256')));
      const jwksPath = join(gcloud.dir, 'jwks.json');
      await writeFile(jwksPath, jwks);
      const cli = await runCli([
        'gcp-setup',
        '--project-number=123456',
        '--pool=private',
        '--provider=private-c1',
        '--issuer=https://kubernetes.default.svc.cluster.local',
        `--jwk-json-path=${jwksPath}`,
      ]);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/no public issuer: Google verifies tokens with the keys uploaded/);
      expect(cli.stdout).toContain(`--jwk-json-path=${jwksPath}`);
      expect(cli.stdout).toMatch(
        /iam\.workloadIdentityPoolProviders\.get and iam\.workloadIdentityPoolProviders\.update/,
      );
      expect(cli.stdout).toContain(
        'idbridge sync --target wif-provider://projects/123456/locations/global/workloadIdentityPools/private/providers/private-c1',
      );
      const result = await gcloud.run(cli.stdout);
      expect(result.code, result.stderr).toBe(0);
      const provider = iam.providers.get(
        'projects/123456/locations/global/workloadIdentityPools/private/providers/private-c1',
      );
      expect(JSON.parse(provider!.oidc.jwksJson!)).toEqual(JSON.parse(jwks));
      expect(provider!.oidc.issuerUri).toBe('https://kubernetes.default.svc.cluster.local');
      expect(
        iam.policies.get('projects/123456/locations/global/workloadIdentityPools/private')
          ?.bindings,
      ).toEqual([
        {
          role: 'roles/iam.workloadIdentityPoolAdmin',
          members: [
            `principal://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/private/subject/${SYNC_SUBJECT}`,
          ],
        },
      ]);
    });

    it('the grant a permission error prints for sync is one gcloud runs', async () => {
      const { iam } = gcloud;
      const member = principalMember('123456', 'idbridge', SYNC_SUBJECT);
      const result = await gcloud.run(
        shellCommand(addPoolIamBindingCommand('123456', 'idbridge', POOL_ADMIN, member)),
      );
      expect(result.code, result.stderr).toBe(0);
      expect(
        iam.policies.get('projects/123456/locations/global/workloadIdentityPools/idbridge')
          ?.bindings,
      ).toEqual([{ role: POOL_ADMIN, members: [member] }]);
    });

    it('the binding command whoami prints for PERMISSION_DENIED is one gcloud runs', async () => {
      const { iam } = gcloud;
      const member = principalMember('123456', 'idbridge', 'system:serviceaccount:apps:worker');
      const result = await gcloud.run(
        shellCommand(addWorkloadIdentityUserCommand('other@proj.iam.gserviceaccount.com', member)),
      );
      expect(result.code, result.stderr).toBe(0);
      expect(iam.policies.get('other@proj.iam.gserviceaccount.com')?.bindings).toEqual([
        { role: 'roles/iam.workloadIdentityUser', members: [member] },
      ]);
    });
  },
);

describe('idbridge gcp-setup input', () => {
  const base = [
    'gcp-setup',
    '--project-number=123456',
    '--issuer=https://edge.example.com/cluster-c1',
  ];
  it.each([
    [
      ['gcp-setup', '--project-number=my-project', '--issuer=https://e.example/c1a'],
      /project NUMBER/,
    ],
    // Issue #11: c1 is no longer refused (it becomes idbridge-c1); a last segment that is no cluster id still is.
    [
      ['gcp-setup', '--project-number=1', '--issuer=https://e.example/C_1'],
      /cannot name the provider .*"C_1".*--provider/,
    ],
    [[...base, '--pool=gcp-reserved'], /pool id "gcp-reserved" is not valid/],
    [[...base, '--kube-service-account=web'], /needs --namespace/],
    [[...base, `--service-account=${SA}`], /needs --namespace/],
    [
      [...base, '--service-account=bob@example.com', '--namespace=apps'],
      /not a Google service account email/,
    ],
    [
      [...base, '--namespace=Apps', '--kube-service-account=web'],
      /not a valid ServiceAccount subject/,
    ],
    [[...base, '--namespace=apps', `--kube-service-account=${'x'.repeat(120)}`], /127 bytes/],
    [
      ['gcp-setup', '--project-number=1', '--issuer=edge.example.com/c1'],
      /--issuer: .*not an absolute URL/,
    ],
    [
      ['gcp-setup', '--issuer=https://e.example/cluster'],
      /required option '--project-number <number>'/,
    ],
  ])('%j is refused', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('warns in the script about an issuer Google cannot fetch', async () => {
    const result = await runCli([
      'gcp-setup',
      '--project-number=1',
      '--issuer=http://127.0.0.1:8787/cluster-c1',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /# WARNING: the issuer http:\/\/127\.0\.0\.1:8787\/cluster-c1 is not HTTPS/,
    );
  });

  it('--json gives the commands as argument arrays', async () => {
    const result = await runCli([...base, '--namespace=apps', '--json']);
    const plan = JSON.parse(result.stdout);
    expect(plan.audience).toBe(
      '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
    );
    expect(plan.member).toBe(
      'principalSet://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/attribute.namespace/apps',
    );
    expect(plan.steps[1].argv).toContain('--issuer-uri=https://edge.example.com/cluster-c1');
  });
});

describe('gcp-setup --jwk-json-path (the plan)', () => {
  const input = {
    projectNumber: '123456',
    pool: 'private',
    provider: 'private-c1',
    issuer: 'https://kubernetes.default.svc.cluster.local',
  };

  it('creates the provider with the uploaded keys, grants the sync job on the pool, and says how to keep them current', () => {
    const plan = gcpSetupPlan({ ...input, jwkJsonPath: 'jwks.json' });
    const provider = plan.steps.find((step) => step.argv.includes('create-oidc'))!;
    expect(provider.argv).toContain('--jwk-json-path=jwks.json');
    expect(provider.argv).toContain(`--issuer-uri=${input.issuer}`);
    expect(plan.steps.at(-1)!.argv).toEqual(
      addPoolIamBindingCommand(
        '123456',
        'private',
        POOL_ADMIN,
        principalMember('123456', 'private', SYNC_SUBJECT),
      ),
    );
    expect(plan.next.join('\n')).toMatch(
      /idbridge sync --target wif-provider:\/\/projects\/123456\/locations\/global\/workloadIdentityPools\/private\/providers\/private-c1/,
    );
    expect(plan.next.join('\n')).toMatch(/idbridge doctor --wif-provider/);
  });

  it('without it, the provider is fetched from the issuer and no pool grant is printed', () => {
    const plan = gcpSetupPlan(input);
    expect(plan.steps.flatMap((step) => step.argv).join(' ')).not.toMatch(
      /jwk-json-path|add-iam-policy-binding/,
    );
  });

  it('refuses an empty path', () => {
    expect(() => gcpSetupPlan({ ...input, jwkJsonPath: ' ' })).toThrow(
      /--jwk-json-path must name the cluster's JWKS file/,
    );
  });
});
