import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './serve.js';

const run = promisify(execFile);
const CLIENT = join(REPO_ROOT, 'test/support/cloud-sdk-client.mjs');

export type SdkMode = 'aws-token-file' | 'aws-chain' | 'azure-workload' | 'azure-default';

export interface SdkResult {
  mode: SdkMode;
  ok: boolean;
  name?: string;
  message?: string;
  accessKeyId?: string;
  expiration?: string;
  arn?: string;
  account?: string;
  token?: string;
  expiresOnTimestamp?: number;
}

/** Runs the real SDKs (test/support/cloud-sdk-client.mjs) in a child process with only `env`. */
export async function runSdks(
  modes: SdkMode[],
  env: Record<string, string>,
  home: string,
): Promise<SdkResult[]> {
  const { stdout } = await run(process.execPath, [CLIENT, ...modes], {
    cwd: REPO_ROOT,
    timeout: 90_000,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      // Nothing from this machine's own AWS or Azure setup takes part.
      AWS_CONFIG_FILE: join(home, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as SdkResult[];
}
