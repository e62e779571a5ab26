import type { PublicJwk } from '../oidc/jwks.js';
import type { KeyEntry } from './record.js';

export interface KeyChange {
  keys: KeyEntry[];
  added: string[];
  removed: string[];
  /** False when the incoming set is the stored set (order aside): nothing needs writing. */
  changed: boolean;
}

/** Two JWKs are the same key when every public member matches, not merely the kid. */
export function sameKey(a: PublicJwk, b: PublicJwk): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The key list after a cluster publishes `incoming`: keys it still has keep their first-seen
 * time, new ones start now, and a kid that now names different key material counts as a
 * removal plus an addition.
 */
export function mergeKeys(
  existing: readonly KeyEntry[],
  incoming: readonly PublicJwk[],
  now: string,
): KeyChange {
  const byKid = new Map(existing.map((entry) => [entry.jwk.kid, entry]));
  const added: string[] = [];
  const keys = incoming.map((jwk): KeyEntry => {
    const previous = byKid.get(jwk.kid);
    if (previous && sameKey(previous.jwk, jwk))
      return { jwk, firstSeen: previous.firstSeen, lastSeen: now };
    added.push(jwk.kid);
    return { jwk, firstSeen: now, lastSeen: now };
  });
  const kept = new Set(
    keys.filter((entry) => !added.includes(entry.jwk.kid)).map((entry) => entry.jwk.kid),
  );
  const removed = existing.map((entry) => entry.jwk.kid).filter((kid) => !kept.has(kid));
  return { keys, added, removed, changed: added.length > 0 || removed.length > 0 };
}
