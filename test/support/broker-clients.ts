import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  externalAccountConfig,
  type WorkloadIdentityProvider,
} from '../../src/credentials/credential-config.js';
import type { ServeHarness } from './serve.js';

/** A request to the admin API of `serve`, with its token (and a JSON body when there is one). */
export function adminApi(serve: ServeHarness) {
  return (method: string, path: string, body?: unknown) =>
    fetch(`${serve.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${serve.adminToken}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
}

/** The broker's audit lines (`broker exchange`) that `serve` logged so far, parsed. */
export function brokerAuditLines(serve: ServeHarness): Array<Record<string, unknown>> {
  return serve.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.msg === 'broker exchange');
}

/**
 * Writes a token file and a credential configuration in `dir` that sends `provider`'s exchange
 * (and impersonation, with a service account) to the broker of `serve`, as a pod has; each call
 * writes files of its own and returns the configuration's path.
 */
export function brokerCredentialConfigs(
  dir: string,
  serve: ServeHarness,
  provider: WorkloadIdentityProvider,
) {
  let files = 0;
  return async (name: string, token: string, serviceAccountEmail?: string): Promise<string> => {
    const tokenPath = join(dir, `${name}-token-${files++}`);
    await writeFile(tokenPath, token);
    const path = join(dir, `${name}-${files++}.json`);
    const config = externalAccountConfig({
      provider,
      tokenPath,
      stsUrl: serve.url,
      iamCredentialsUrl: serve.url,
      format: 'text',
      ...(serviceAccountEmail ? { serviceAccountEmail } : {}),
    });
    await writeFile(path, JSON.stringify(config));
    return path;
  };
}
