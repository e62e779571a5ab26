import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_ARN, startCloudStack, type CloudStack } from '../support/cloud-stack.js';

const run = promisify(execFile);

/** The AWS CLI (botocore), when this machine has it: a second client of the broker's AWS STS. */
function awsCliVersion(): string | null {
  try {
    return execFileSync('aws', ['--version'], { encoding: 'utf8', timeout: 20_000 }).trim();
  } catch {
    return null;
  }
}
const version = awsCliVersion();

describe.skipIf(version === null)(
  `the AWS CLI through the broker (${version ?? 'skipped: no aws command on PATH'})`,
  () => {
    let stack: CloudStack;
    beforeAll(async () => {
      stack = await startCloudStack();
    });
    afterAll(async () => {
      await stack?.close();
    });

    it('assumes the role with AWS_ENDPOINT_URL_STS=https://BROKER/aws/sts, then GetCallerIdentity', async () => {
      const before = stack.aws.calls.assumeRoleWithWebIdentity;
      const { stdout } = await run(
        'aws',
        ['sts', 'get-caller-identity', '--output', 'json', '--endpoint-url', stack.aws.url],
        {
          timeout: 60_000,
          env: {
            PATH: process.env.PATH ?? '',
            // A HOME of its own: the CLI caches assumed-role credentials under ~/.aws/cli/cache.
            HOME: stack.dir,
            ...(process.env.HOME
              ? { PYENV_ROOT: process.env.PYENV_ROOT ?? join(process.env.HOME, '.pyenv') }
              : {}),
            AWS_CONFIG_FILE: join(stack.dir, 'no-aws-config'),
            AWS_SHARED_CREDENTIALS_FILE: join(stack.dir, 'no-aws-credentials'),
            AWS_EC2_METADATA_DISABLED: 'true',
            AWS_CA_BUNDLE: stack.caFile,
            AWS_ROLE_ARN: ROLE_ARN,
            AWS_WEB_IDENTITY_TOKEN_FILE: await stack.tokenFile(await stack.token('aws')),
            AWS_REGION: 'eu-west-1',
            AWS_DEFAULT_REGION: 'eu-west-1',
            AWS_STS_REGIONAL_ENDPOINTS: 'regional',
            AWS_ENDPOINT_URL_STS: `${stack.serve.url}/aws/sts`,
          },
        },
      );
      expect(JSON.parse(stdout)).toMatchObject({
        Account: '123456789012',
        Arn: expect.stringMatching(/^arn:aws:sts::123456789012:assumed-role\/app\//),
      });
      // The role was assumed through the broker, which forwarded it once.
      expect(stack.aws.calls.assumeRoleWithWebIdentity - before).toBe(1);
      expect(stack.auditLines().at(-1)).toMatchObject({
        endpoint: 'assumeRoleWithWebIdentity',
        outcome: 'ok',
      });
    });
  },
);
