import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidAdminToken } from '../../config/config.js';
import { IdbridgeError } from '../../errors.js';

export interface AdminTokenSource {
  token: string;
  /** True when the token was generated now and must be shown to the operator, once. */
  generated: boolean;
  /** Where it is kept, if anywhere. */
  path?: string;
}

export function generateAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The admin token of `idbridge serve`: IDBRIDGE_ADMIN_TOKEN if set; else the one kept in the
 * data directory; else a new one, written there (mode 0600) and shown once.
 */
export async function resolveAdminToken(
  configured: string | undefined,
  dataDir: string | undefined,
): Promise<AdminTokenSource> {
  if (configured) return { token: configured, generated: false };
  if (!dataDir) return { token: generateAdminToken(), generated: true };
  const path = join(dataDir, 'admin-token');
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (!isValidAdminToken(token))
      throw new IdbridgeError(
        'invalid_request',
        `${path} does not hold a valid admin token; delete it to generate a new one`,
      );
    return { token, generated: false, path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = generateAdminToken();
  try {
    const handle = await open(path, 'wx', 0o600);
    await handle.writeFile(`${token}\n`);
    await handle.close();
  } catch (err) {
    // Another process started at the same moment and wrote one first: use that.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      return resolveAdminToken(undefined, dataDir);
    throw err;
  }
  return { token, generated: true, path };
}
