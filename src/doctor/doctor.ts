import type { WorkloadIdentityProvider } from '../credentials/credential-config.js';
import { fail, pass, skip, warn, type Check } from '../report/report.js';
import { checkDiscovery } from './discovery-checks.js';
import { cloudChecks, GOOGLE_ONLY_CHECKS, type DoctorCloud } from './cloud-checks.js';
import { fetchDocument, type FetchDeps } from './fetch-document.js';
import { checkIssuerUrl, discoveryUrlFor } from './issuer-url.js';
import { checkJwks, FORGEABLE_FIX } from './jwks-checks.js';
import { checkToken } from './token-checks.js';

export interface DoctorInput {
  /** The issuer URL exactly as Google's provider has it (and the kube-apiserver's flag). */
  issuer: string;
  /** A projected ServiceAccount token to check against the issuer. */
  token?: string;
  provider?: WorkloadIdentityProvider;
  allowedAudiences?: string[];
  /** The key ids the registry holds for the cluster (when known): the served JWKS should match. */
  registeredKids?: string[];
  /** Keys the registry holds for the cluster but withholds as unsafe (when known). */
  withheldKeys?: ReadonlyArray<{ kid: string; reason: string }>;
  /** Whose rules: Google's (default), AWS STS's or Entra ID's. */
  cloud?: DoctorCloud;
}

export interface DoctorDeps extends FetchDeps {
  /** Wall clock, epoch milliseconds (token times). */
  now: () => number;
}

const JWKS_CHECK_IDS = [
  'jwks.fetch',
  'jwks.content_type',
  'jwks.json',
  'jwks.members',
  'jwks.private',
  'jwks.x509',
  'jwks.algorithms',
  'jwks.rsa_size',
  'jwks.material',
  'jwks.cache',
];

/**
 * The "curl the discovery document" check done properly: everything Google STS will fetch and
 * compare, one check at a time, in the order Google does it, each failure with its fix.
 */
export async function runDoctor(input: DoctorInput, deps: DoctorDeps): Promise<Check[]> {
  const urlCheck = checkIssuerUrl(input.issuer);
  const checks: Check[] = [urlCheck];
  if (urlCheck.verdict === 'fail') return checks;

  const discovery = checkDiscovery(
    input.issuer,
    await fetchDocument(discoveryUrlFor(input.issuer), deps),
  );
  checks.push(...discovery.checks);

  let keys: Record<string, unknown>[] | undefined;
  if (discovery.jwksUri) {
    const jwks = await checkJwks(await fetchDocument(discovery.jwksUri, deps));
    checks.push(...jwks.checks);
    keys = jwks.keys;
    if (keys && input.registeredKids) checks.push(compareWithRegistry(input.registeredKids, keys));
  } else {
    checks.push(...JWKS_CHECK_IDS.map((id) => skip(id, 'not checked: no usable jwks_uri')));
  }

  if (input.withheldKeys?.length) checks.push(checkWithheld(input.withheldKeys));

  if (input.token !== undefined) {
    checks.push(
      ...(await checkToken({
        token: input.token,
        issuer: input.issuer,
        ...(keys ? { keys } : {}),
        ...(input.provider ? { provider: input.provider } : {}),
        ...(input.allowedAudiences ? { allowedAudiences: input.allowedAudiences } : {}),
        now: deps.now(),
      })),
    );
  }
  if (input.cloud === 'aws' || input.cloud === 'azure') {
    return [
      ...checks.filter((check) => !GOOGLE_ONLY_CHECKS.includes(check.id)),
      ...cloudChecks(input.cloud, {
        issuer: input.issuer,
        ...(keys ? { keys } : {}),
        ...(input.token !== undefined ? { token: input.token } : {}),
        ...(input.allowedAudiences ? { audiences: input.allowedAudiences } : {}),
        now: deps.now(),
      }),
    ];
  }
  return checks;
}

/** The edge serves what the registry holds, once caches have caught up. */
export function compareWithRegistry(
  registeredKids: readonly string[],
  served: readonly Record<string, unknown>[],
): Check {
  const servedKids = served
    .map((key) => key.kid)
    .filter((kid): kid is string => typeof kid === 'string');
  const missing = registeredKids.filter((kid) => !servedKids.includes(kid));
  const extra = servedKids.filter((kid) => !registeredKids.includes(kid));
  if (missing.length === 0 && extra.length === 0)
    return pass('jwks.registered', 'the served keys are the registered keys');
  return warn(
    'jwks.registered',
    'the served JWKS differs from the keys registered for the cluster',
    'a cache between the registry and this URL (the edge, a CDN) still holds an older copy: wait for max-age to pass, and do not sign with a new key until it is served here',
    {
      details: [
        ...missing.map((kid) => `registered, not served: ${kid}`),
        ...extra.map((kid) => `served, no longer registered: ${kid}`),
      ],
    },
  );
}

/** Keys on record the registry refuses to serve or trust: they were stored before the RSA rule. */
export function checkWithheld(withheld: ReadonlyArray<{ kid: string; reason: string }>): Check {
  return fail(
    'registry.unsafe_keys',
    `the registry holds ${withheld.length} UNSAFE key${withheld.length === 1 ? '' : 's'} for the cluster (forgeable or trivially factorable); idbridge withholds ${withheld.length === 1 ? 'it' : 'them'} from the JWKS and trusts ${withheld.length === 1 ? 'it' : 'them'} nowhere`,
    FORGEABLE_FIX,
    {
      details: withheld.map((key) => `kid ${JSON.stringify(key.kid.slice(0, 64))}: ${key.reason}`),
    },
  );
}
