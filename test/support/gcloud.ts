import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GcloudResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the installed gcloud with a throwaway config dir and the given credential file, as a pod
 * does with CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE (none: gcloud runs without credentials, e.g. for
 * offline commands). Nothing leaves loopback: the credential file's URLs point at local servers.
 */
export async function gcloud(
  args: string[],
  credentialFile: string | undefined,
  env: Record<string, string> = {},
): Promise<GcloudResult> {
  const config = await mkdtemp(join(tmpdir(), 'gcloud-config-'));
  try {
    return await new Promise<GcloudResult>((resolve) => {
      execFile(
        'gcloud',
        args,
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: config,
            CLOUDSDK_CONFIG: config,
            ...(credentialFile !== undefined
              ? { CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: credentialFile }
              : {}),
            CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
            CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
            CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: '1',
            ...env,
          },
          timeout: 60_000,
        },
        (error, stdout, stderr) => {
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
            stdout: stdout.trim(),
            stderr,
          });
        },
      );
    });
  } finally {
    await rm(config, { recursive: true, force: true });
  }
}

/**
 * Runs a script (printed gcloud commands) with bash and the installed gcloud, its IAM API pointed
 * at `iamUrl` (the IAM admin fake) and an operator's access token, with `dir` as HOME and config.
 */
export async function runWithGcloud(
  script: string,
  iamUrl: string,
  dir: string,
  timeoutMs: number,
): Promise<GcloudResult> {
  const tokenFile = join(dir, 'access-token');
  await writeFile(tokenFile, 'ya29.operator-token');
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          CLOUDSDK_CONFIG: join(dir, 'gcloud'),
          CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
          CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
          CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: '1',
          CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM: `${iamUrl}/`,
          CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: tokenFile,
        },
        timeout: timeoutMs,
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}
