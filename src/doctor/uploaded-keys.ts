import type { WorkloadIdentityProvider } from '../credentials/credential-config.js';
import { isIdbridgeError } from '../errors.js';
import { validateJwks, type PublicJwk } from '../oidc/jwks.js';
import { sameKey } from '../registry/keys.js';
import { fail, pass, warn, type Check } from '../report/report.js';
import { SyncFailure } from '../sync/failure.js';
import type { IamProviderClient, ProviderResource } from '../sync/iam-providers.js';
import { providerFailure } from '../sync/wif-provider-target.js';

/** The cluster's live documents, as doctor got them (the kube-apiserver, or a file). */
export interface LiveKeys {
  /** The cluster's JWKS, not yet trusted. */
  jwks: unknown;
  /** The cluster's issuer, when its discovery document was read. */
  issuer?: string;
  /** Where they came from, for the report. */
  source: string;
}

const syncFix = (provider: WorkloadIdentityProvider) =>
  `run idbridge sync --once --target wif-provider://${provider.path} (in the cluster, with the sync job's credentials), or keep the sync CronJob running with that target`;

/**
 * `doctor --wif-provider`: reads the provider's uploaded keys (`oidc.jwksJson`) and compares them
 * with the cluster's live JWKS: keys Google lacks (missing), keys it still trusts that the cluster
 * dropped (extra), and kids whose key material differs (stale), each with the fix.
 */
export async function checkUploadedKeys(
  provider: WorkloadIdentityProvider,
  client: IamProviderClient,
  live: LiveKeys,
): Promise<Check[]> {
  let resource: ProviderResource;
  try {
    resource = await client.get(provider);
  } catch (err) {
    const failure = providerFailure(err, provider);
    if (!(failure instanceof SyncFailure)) throw err;
    return [
      fail(
        'provider.read',
        `cannot read provider ${provider.path}`,
        failure.message.replace(/\bsync job's identity\b/, 'identity doctor runs as'),
      ),
    ];
  }
  const checks: Check[] = [pass('provider.read', `read provider ${provider.path}`)];
  let liveKeys: PublicJwk[];
  try {
    liveKeys = (await validateJwks(live.jwks)).keys;
  } catch (err) {
    if (!isIdbridgeError(err)) throw err;
    return [
      ...checks,
      fail(
        'cluster.jwks',
        `the cluster's JWKS (${live.source}) cannot be compared: ${err.message}`,
        'pass the body of kubectl get --raw /openid/v1/jwks unchanged',
      ),
    ];
  }
  if (live.issuer !== undefined && resource.oidc?.issuerUri !== undefined) {
    checks.push(
      resource.oidc.issuerUri === live.issuer
        ? pass('provider.issuer', `the provider's issuer URI is the cluster's, ${live.issuer}`)
        : fail(
            'provider.issuer',
            `the provider's issuer URI is ${JSON.stringify(resource.oidc.issuerUri)} but the cluster's tokens carry iss ${JSON.stringify(live.issuer)}: Google refuses every token, whatever keys it holds`,
            `gcloud iam workload-identity-pools providers update-oidc ${provider.path} --issuer-uri=${live.issuer}`,
          ),
    );
  }
  const jwksJson = resource.oidc?.jwksJson;
  if (jwksJson === undefined || jwksJson === '') {
    checks.push(
      fail(
        'provider.keys',
        `provider ${provider.path} has no uploaded keys: Google fetches the keys from its issuer URI, which a cluster with no public issuer does not serve`,
        syncFix(provider),
      ),
    );
    return checks;
  }
  let uploaded: PublicJwk[];
  try {
    uploaded = (await validateJwks(jwksJson)).keys;
  } catch (err) {
    if (!isIdbridgeError(err)) throw err;
    checks.push(
      fail(
        'provider.keys',
        `the provider's uploaded JWKS is not a valid key set: ${err.message.slice(0, 300)}`,
        syncFix(provider),
      ),
    );
    return checks;
  }
  checks.push(...compareUploadedKeys(uploaded, liveKeys, provider, live.source));
  return checks;
}

/** The comparison itself, pure: missing, stale and extra keys, or one pass. */
export function compareUploadedKeys(
  uploaded: readonly PublicJwk[],
  live: readonly PublicJwk[],
  provider: WorkloadIdentityProvider,
  source = "the cluster's JWKS",
): Check[] {
  const has = (keys: readonly PublicJwk[], key: PublicJwk) => keys.some((k) => sameKey(k, key));
  const byKid = (keys: readonly PublicJwk[], kid: string) => keys.find((k) => k.kid === kid);
  const stale = live.filter((key) => !has(uploaded, key) && byKid(uploaded, key.kid));
  const missing = live.filter((key) => !has(uploaded, key) && !byKid(uploaded, key.kid));
  const extra = uploaded.filter((key) => !has(live, key) && !byKid(live, key.kid));
  const kids = (keys: readonly PublicJwk[]) => keys.map((k) => JSON.stringify(k.kid)).join(', ');
  const checks: Check[] = [];
  if (missing.length > 0)
    checks.push(
      fail(
        'provider.keys.missing',
        `the provider lacks ${missing.length === 1 ? 'key' : 'keys'} ${kids(missing)} of ${source}: Google refuses every token signed by ${missing.length === 1 ? 'it' : 'them'}`,
        syncFix(provider),
      ),
    );
  if (stale.length > 0)
    checks.push(
      fail(
        'provider.keys.stale',
        `the provider holds other key material under ${stale.length === 1 ? 'kid' : 'kids'} ${kids(stale)} than ${source}: signatures by the cluster's ${stale.length === 1 ? 'key' : 'keys'} do not verify`,
        syncFix(provider),
      ),
    );
  if (extra.length > 0)
    checks.push(
      warn(
        'provider.keys.extra',
        `the provider still trusts ${extra.length === 1 ? 'key' : 'keys'} ${kids(extra)}, which ${source} no longer has: tokens signed by ${extra.length === 1 ? 'it' : 'them'} are still accepted by Google`,
        `${syncFix(provider)}; it removes keys the cluster dropped (after adding new ones)`,
      ),
    );
  if (checks.length === 0)
    checks.push(
      pass(
        'provider.keys',
        `the provider's ${uploaded.length} uploaded ${uploaded.length === 1 ? 'key matches' : 'keys match'} ${source}`,
      ),
    );
  return checks;
}
