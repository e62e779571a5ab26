import { MAX_KEYS } from '../oidc/limits.js';
import type { PublicJwk } from '../oidc/jwks.js';
import { sameKey } from '../registry/keys.js';

/** What one sync writes into a provider's `oidc.jwksJson`. */
export interface ProviderKeyPlan {
  /** The keys to upload; absent when the provider already holds the cluster's set (order aside). */
  write?: PublicJwk[];
  added: string[];
  removed: string[];
  /**
   * Keys the cluster no longer publishes that this write still keeps, because it also adds keys:
   * a write never adds and removes at once, so the new key is in place before the old one goes.
   * The next sync, which reads the new key back from the provider, removes them.
   */
  deferred: string[];
}

const has = (keys: readonly PublicJwk[], key: PublicJwk) => keys.some((k) => sameKey(k, key));

/**
 * Decides the provider's next key set from what it holds (`current`) and what the cluster
 * publishes (`desired`), compared canonically (every public member, not the kid alone, order
 * aside). Pure: the lock-out rule is applied by the caller, before this.
 */
export function planProviderKeys(
  current: readonly PublicJwk[],
  desired: readonly PublicJwk[],
): ProviderKeyPlan {
  const added = desired.filter((key) => !has(current, key));
  const gone = current.filter((key) => !has(desired, key));
  if (added.length === 0 && gone.length === 0) return { added: [], removed: [], deferred: [] };
  if (added.length === 0)
    return { write: [...desired], added: [], removed: gone.map((k) => k.kid), deferred: [] };
  // A kid that now names other key material cannot be kept beside its successor: verifiers pick
  // keys by kid. Such a key is replaced at once; every other old key waits for the next sync.
  const kids = new Set(desired.map((key) => key.kid));
  const kept = gone.filter((key) => !kids.has(key.kid));
  const replaced = gone.filter((key) => kids.has(key.kid));
  if (desired.length + kept.length > MAX_KEYS)
    return {
      write: [...desired],
      added: added.map((k) => k.kid),
      removed: gone.map((k) => k.kid),
      deferred: [],
    };
  return {
    write: [...desired, ...kept],
    added: added.map((k) => k.kid),
    removed: replaced.map((k) => k.kid),
    deferred: kept.map((k) => k.kid),
  };
}
