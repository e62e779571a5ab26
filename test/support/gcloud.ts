import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
