import type { AdminClient } from '../admin-client/client.js';
import { IdbridgeError } from '../errors.js';
import { pass, type Check } from '../report/report.js';

export interface TargetFlags {
  issuer?: string;
  cluster?: string;
  api?: string;
  adminToken?: string;
}

export interface Target {
  issuer: string;
  checks: Check[];
  registeredKids?: string[];
  /** Keys on record that the registry withholds as unsafe (the RSA rule), with why. */
  withheldKeys?: Array<{ kid: string; reason: string }>;
}

/**
 * Which issuer to check: `--issuer` as given, or a registered cluster's. With an admin token the
 * registry says what the cluster's issuer is; without one it is `{api}/{cluster}`, which holds
 * when the API and the issuer share IDBRIDGE_PUBLIC_URL (idbridge serve).
 */
export async function resolveTarget(
  flags: TargetFlags,
  client: (api: string, token: string) => AdminClient,
): Promise<Target> {
  if (flags.issuer !== undefined) {
    if (flags.cluster !== undefined)
      throw new IdbridgeError(
        'invalid_request',
        'give either --issuer URL or --cluster ID --api URL, not both',
      );
    return { issuer: flags.issuer, checks: [] };
  }
  if (flags.cluster === undefined || flags.api === undefined) {
    throw new IdbridgeError(
      'invalid_request',
      'doctor needs --issuer URL, or --cluster ID with --api URL (or IDBRIDGE_API_URL)',
    );
  }
  if (!flags.adminToken) {
    const issuer = `${flags.api.replace(/\/+$/, '')}/${flags.cluster}`;
    return {
      issuer,
      checks: [
        pass(
          'issuer.source',
          `issuer taken as {api}/{cluster} = ${issuer} (set IDBRIDGE_ADMIN_TOKEN to read the registered issuer instead)`,
        ),
      ],
    };
  }
  const cluster = await client(flags.api, flags.adminToken).get(flags.cluster);
  return {
    issuer: cluster.issuer,
    // A withheld key is not served on purpose: it is reported as unsafe, not as a stale cache.
    registeredKids: cluster.keys.filter((key) => key.unsafe === undefined).map((key) => key.kid),
    withheldKeys: cluster.keys.flatMap((key) =>
      key.unsafe !== undefined ? [{ kid: key.kid, reason: key.unsafe }] : [],
    ),
    checks: [
      pass(
        'issuer.source',
        `cluster ${cluster.id} is registered with issuer ${cluster.issuer} (version ${cluster.version}, ${cluster.keys.length} key${cluster.keys.length === 1 ? '' : 's'})`,
      ),
    ],
  };
}
