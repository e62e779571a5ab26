import { createHash } from 'node:crypto';
import { GOOGLE_SUBJECT_MAX_BYTES } from '../verify/google-rules.js';

export { GOOGLE_SUBJECT_MAX_BYTES };
/** base64url SHA-256: 43 characters. */
const HASH_CHARACTERS = 43;
/** Marks a shortened subject; never in a cluster id, namespace or ServiceAccount name. */
const SHORTENED = '~';

/**
 * The minted token's `sub`: `CLUSTER:NAMESPACE:SERVICEACCOUNT` when that fits Google's 127 bytes,
 * else its first 83 characters, `~` and the base64url SHA-256 of the whole (exactly 127 bytes).
 * Names are ASCII (DNS labels and subdomains) and `:` and `~` appear in none of them, so a full
 * subject never equals another one, nor a shortened one; shortened ones differ by their hash.
 */
export function fleetSubject(cluster: string, namespace: string, serviceAccount: string): string {
  const full = `${cluster}:${namespace}:${serviceAccount}`;
  if (full.length <= GOOGLE_SUBJECT_MAX_BYTES) return full;
  const hash = createHash('sha256').update(full).digest('base64url');
  const prefix = full.slice(0, GOOGLE_SUBJECT_MAX_BYTES - HASH_CHARACTERS - SHORTENED.length);
  return `${prefix}${SHORTENED}${hash}`;
}
