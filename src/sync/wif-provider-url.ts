import { IdbridgeError } from '../errors.js';
import {
  parseProvider,
  providerHint,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import { SyncFailure } from './failure.js';

export const WIF_PROVIDER_SCHEME = 'wif-provider://';
const FORM =
  'wif-provider://projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER';

/**
 * Parses `--target wif-provider://projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV`
 * strictly: exactly that form, nothing around it. Each malformed form gets its own message, so
 * the operator sees what to change; a refusal is a configuration failure (exit 2).
 */
export function parseWifProviderTarget(value: string): WorkloadIdentityProvider {
  const shown = JSON.stringify(value.slice(0, 200));
  const refuse = (why: string): never => {
    throw new SyncFailure('config', `--target ${shown} ${why}; write ${FORM}`, false);
  };
  if (!value.startsWith(WIF_PROVIDER_SCHEME)) {
    if (/^wif-provider:/i.test(value))
      refuse(
        `is not a provider target: the scheme is "${WIF_PROVIDER_SCHEME}" (lower case, two slashes)`,
      );
    refuse('is not a workload identity provider target');
  }
  const path = value.slice(WIF_PROVIDER_SCHEME.length);
  if (path === '') refuse('names no provider');
  // Control characters and spaces first: they would make every later message hard to read.
  if (/\s/.test(path) || [...path].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\x7f'))
    refuse('contains whitespace or control characters');
  if (/[?#]/.test(path))
    refuse('has a query or fragment; a provider target is the resource name alone');
  if (path.includes('%'))
    refuse('is percent-encoded; provider and pool ids are plain a-z, 0-9 and "-"');
  if (/^(?:\/\/)?iam\.googleapis\.com\//.test(path) || path.startsWith('/'))
    refuse(
      'has a host or a leading slash; the target starts with projects/ right after "wif-provider://"',
    );
  if (path.endsWith('/')) refuse('ends with "/"');
  const segments = path.split('/');
  if (segments[0] === 'projects' && segments[2] === 'locations' && segments[3] !== 'global')
    refuse(
      `names location ${JSON.stringify(segments[3]?.slice(0, 64))}; workload identity pools live in location "global"`,
    );
  if (segments.length === 6 && segments[4] === 'workloadIdentityPools')
    refuse('names a pool, not a provider: add /providers/PROVIDER');
  if (segments.length > 8) refuse('has segments after the provider id');
  try {
    return parseProvider(path);
  } catch (err) {
    if (!(err instanceof IdbridgeError)) throw err;
    const hint = providerHint(path);
    if (hint) refuse(`is not a provider name. ${hint}`);
    const idRule = /breaks Google's rule for ids \([^)]*\)/.exec(err.message);
    const which = /the (provider|pool) id "[^"]*"/.exec(err.message);
    if (idRule && which) refuse(`is not a provider name: ${which[0]} ${idRule[0]}`);
    return refuse('is not a workload identity provider name');
  }
}
