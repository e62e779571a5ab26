import { readFile } from 'node:fs/promises';
import { loadConfig } from '../../config/config.js';
import { parseProvider } from '../../credentials/credential-config.js';
import { checkUploadedKeys, type LiveKeys } from '../../doctor/uploaded-keys.js';
import { IdbridgeError } from '../../errors.js';
import { renderChecks, renderJson } from '../../report/render.js';
import { exitCode, fail, type Check } from '../../report/report.js';
import { SyncFailure } from '../../sync/failure.js';
import { applicationDefaultCredentials } from '../../sync/google-credentials.js';
import { IamProviderClient } from '../../sync/iam-providers.js';
import { KubeIssuerSource, loadKubeConfig } from '../../sync/kube-source.js';
import type { CliIo } from '../io.js';

export interface UploadedKeysFlags {
  wifProvider: string;
  jwks?: string;
  kubeconfig?: string;
  timeout: number;
  json?: boolean;
}

/**
 * `idbridge doctor --wif-provider PROVIDER`: the provider's uploaded keys against the cluster's
 * live JWKS (`--jwks FILE`, else read from the kube-apiserver as sync reads it), with Application
 * Default Credentials and IDBRIDGE_IAM_URL from the environment.
 */
export async function uploadedKeysAction(
  flags: UploadedKeysFlags,
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<number> {
  const provider = parseProvider(flags.wifProvider.replace(/^wif-provider:\/\//, ''));
  const config = loadConfig(env);
  let checks: Check[];
  try {
    const live = await liveKeys(flags, env);
    const credentials = await applicationDefaultCredentials(
      env.GOOGLE_APPLICATION_CREDENTIALS || undefined,
    );
    const client = new IamProviderClient({
      iamUrl: config.iamUrl,
      accessToken: () => credentials.accessToken(),
      timeoutMs: flags.timeout * 1000,
    });
    checks = await checkUploadedKeys(provider, client, live);
  } catch (err) {
    if (!(err instanceof SyncFailure)) throw err;
    checks = [fail('provider.keys', 'cannot compare the uploaded keys', err.message)];
  }
  io.out(
    flags.json
      ? renderJson(checks, { provider: provider.path })
      : renderChecks(`idbridge doctor: uploaded keys of ${provider.path}`, checks, {
          colour: io.colour,
        }),
  );
  return exitCode(checks);
}

async function liveKeys(
  flags: UploadedKeysFlags,
  env: Record<string, string | undefined>,
): Promise<LiveKeys> {
  if (flags.jwks !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.jwks, 'utf8');
    } catch (err) {
      throw new IdbridgeError(
        'invalid_request',
        `cannot read --jwks ${flags.jwks}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    return { jwks: text, source: `--jwks ${flags.jwks}` };
  }
  const kubeconfig = flags.kubeconfig ?? env.KUBECONFIG;
  const source = new KubeIssuerSource(
    loadKubeConfig({
      ...(kubeconfig ? { kubeconfig } : {}),
      inCluster: !!env.KUBERNETES_SERVICE_HOST,
    }),
    { timeoutMs: flags.timeout * 1000 },
  );
  const served = await source.read();
  const issuer = (served.discovery as { issuer?: unknown } | null)?.issuer;
  return {
    jwks: served.jwks,
    ...(typeof issuer === 'string' ? { issuer } : {}),
    source: `the kube-apiserver's JWKS (${source.server})`,
  };
}
