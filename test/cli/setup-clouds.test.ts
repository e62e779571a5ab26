import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsSetupPlan, azureSetupPlan, issuerHostAndPath } from '../../src/cloud-setup/plan.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/serve.js';

/**
 * `idbridge setup aws|azure|gcp`: the printed script is run by bash with stand-ins for aws, az and
 * kubectl on PATH that record their argv, so what the operator pastes is what the cloud CLI gets.
 */

const ISSUER = 'https://issuer.example.com/c1';

async function runScript(
  script: string,
  dir: string,
): Promise<{ code: number; calls: string[][]; files: Record<string, string> }> {
  const log = join(dir, 'calls.jsonl');
  await writeFile(log, '');
  for (const tool of ['aws', 'az', 'kubectl']) {
    const path = join(dir, tool);
    await writeFile(
      path,
      `#!/usr/bin/env node\nrequire('fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify([${JSON.stringify(tool)}, ...process.argv.slice(2)]) + '\\n');\n`,
    );
    await chmod(path, 0o755);
  }
  const code = await new Promise<number>((resolve) =>
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      { cwd: dir, env: { PATH: `${dir}:${process.env.PATH ?? ''}` } },
      (error) => resolve(error ? 1 : 0),
    ),
  );
  const calls = (await readFile(log, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
  let policy = '';
  try {
    policy = await readFile(join(dir, 'trust-policy.json'), 'utf8');
  } catch {
    // azure writes no file
  }
  return { code, calls, files: { 'trust-policy.json': policy } };
}

describe('idbridge setup aws|azure|gcp', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await dir?.remove();
  });

  it('setup aws: the OIDC provider, a trust policy naming the ServiceAccount, the role, the annotation', async () => {
    const cli = await runCli([
      'setup',
      'aws',
      `--issuer=${ISSUER}`,
      '--namespace=apps',
      '--service-account=web',
      '--account-id=111122223333',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    const run = await runScript(cli.stdout, dir.path);
    expect(run.code).toBe(0);
    expect(run.calls).toEqual([
      [
        'aws',
        'iam',
        'create-open-id-connect-provider',
        `--url=${ISSUER}`,
        '--client-id-list=sts.amazonaws.com',
      ],
      [
        'aws',
        'iam',
        'create-role',
        '--role-name=idbridge-apps-web',
        '--assume-role-policy-document=file://trust-policy.json',
      ],
      [
        'kubectl',
        'annotate',
        'serviceaccount',
        '-n',
        'apps',
        'web',
        'eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/idbridge-apps-web',
      ],
    ]);
    expect(JSON.parse(run.files['trust-policy.json']!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: 'arn:aws:iam::111122223333:oidc-provider/issuer.example.com/c1' },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              'issuer.example.com/c1:sub': 'system:serviceaccount:apps:web',
              'issuer.example.com/c1:aud': 'sts.amazonaws.com',
            },
          },
        },
      ],
    });
  });

  it('setup azure: az identity federated-credential create with the issuer, subject and audience', async () => {
    const cli = await runCli([
      'setup',
      'azure',
      `--issuer=${ISSUER}`,
      '--namespace=apps',
      '--service-account=web',
      '--identity-name=app-identity',
      '--resource-group=rg-apps',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    const run = await runScript(cli.stdout, dir.path);
    expect(run.code).toBe(0);
    expect(run.calls[0]).toEqual([
      'az',
      'identity',
      'federated-credential',
      'create',
      '--name=idbridge-apps-web',
      '--identity-name=app-identity',
      '--resource-group=rg-apps',
      `--issuer=${ISSUER}`,
      '--subject=system:serviceaccount:apps:web',
      '--audience=api://AzureADTokenExchange',
    ]);
    expect(run.calls[1]).toEqual([
      'kubectl',
      'annotate',
      'serviceaccount',
      '-n',
      'apps',
      'web',
      'azure.workload.identity/client-id=CLIENT_ID',
    ]);
    expect(cli.stdout).toMatch(/azure\.workload\.identity\/use: "true"/);
  });

  it('setup gcp is gcp-setup under its new name: same flags, same output', async () => {
    const flags = [
      '--project-number=123456',
      `--issuer=${ISSUER}`,
      '--namespace=apps',
      '--kube-service-account=web',
    ];
    const renamed = await runCli(['setup', 'gcp', ...flags]);
    const old = await runCli(['gcp-setup', ...flags]);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout).toBe(old.stdout);
    const help = await runCli(['setup', 'gcp', '--help']);
    const oldHelp = await runCli(['gcp-setup', '--help']);
    const options = (text: string) => text.slice(text.indexOf('Options:'));
    expect(options(help.stdout)).toBe(options(oldHelp.stdout));
  });

  it.each([
    [['aws', '--issuer=http://issuer.example.com/c1'], /--issuer must be https:\/\//],
    [['aws', `--issuer=${ISSUER}/`], /ends with "\/"/],
    [
      ['aws', `--issuer=${ISSUER}`, '--account-id=12345'],
      /--account-id must be the 12-digit AWS account id/,
    ],
    [
      ['aws', `--issuer=${ISSUER}`, '--namespace=Apps'],
      /--namespace "Apps" is not a Kubernetes namespace/,
    ],
    [
      ['azure', `--issuer=${ISSUER}`, '--identity-name=a b'],
      /--identity-name "a b" is not an Azure resource name/,
    ],
    [
      ['azure', `--issuer=${ISSUER}`, '--name=-x'],
      /--name "-x" is not a federated credential name/,
    ],
  ])('refuses %j with the fix, exit 2', async (args, message) => {
    const base = {
      aws: ['--account-id=111122223333'],
      azure: ['--identity-name=id', '--resource-group=rg'],
    }[args[0] as 'aws' | 'azure'];
    const argv = ['setup', ...args];
    for (const flag of [...base, '--namespace=apps', '--service-account=web'])
      if (!argv.some((a) => a.startsWith(flag.split('=')[0]!))) argv.push(flag);
    const cli = await runCli(argv);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(message);
    expect(cli.stdout).toBe('');
  });

  it('plans as plain values: the IAM key prefix, a custom audience, JSON', () => {
    expect(issuerHostAndPath('https://e.example/a/b')).toBe('e.example/a/b');
    const aws = awsSetupPlan({
      issuer: ISSUER,
      namespace: 'apps',
      serviceAccount: 'web',
      accountId: '111122223333',
      audience: 'my-aud',
      partition: 'aws-us-gov',
    });
    expect(aws.steps[0]!.argv).toContain('--client-id-list=my-aud');
    expect(aws.steps[1]!.file!.content).toContain(
      'arn:aws-us-gov:iam::111122223333:oidc-provider/issuer.example.com/c1',
    );
    const azure = azureSetupPlan({
      issuer: ISSUER,
      namespace: 'apps',
      serviceAccount: 'web',
      identityName: 'id',
      resourceGroup: 'rg',
    });
    expect(azure).toMatchObject({
      subject: 'system:serviceaccount:apps:web',
      audience: 'api://AzureADTokenExchange',
    });
  });
});
