import { z } from 'zod';
import { publicJwkSchema, type PublicJwk } from '../oidc/jwks.js';

/** The name of the store's private record that holds the fleet signing keys. */
export const FLEET_KEYS_RECORD = 'fleet-keys';

/** One fleet key: published from `createdAt`, signing from `signsFrom` (epoch seconds). */
export const fleetKeySchema = z.object({
  kid: z.string().min(1).max(128),
  /** The private JWK (`d` included) for a local key; absent for a KMS key. */
  privateJwk: z.record(z.string(), z.unknown()).optional(),
  publicJwk: publicJwkSchema,
  createdAt: z.number().int().nonnegative(),
  signsFrom: z.number().int().nonnegative(),
});
export type FleetKey = z.infer<typeof fleetKeySchema>;

export const fleetKeysetSchema = z.object({
  version: z.literal(1),
  keys: z.array(fleetKeySchema).max(20),
});
export type FleetKeyset = z.infer<typeof fleetKeysetSchema>;

export interface RotationSettings {
  /** How long a key signs before the next one takes over, seconds. */
  rotationSeconds: number;
  /** How long a new key is published before it signs, seconds. */
  leadSeconds: number;
  /** How long a key stays published after it stopped signing (≥ a minted token's lifetime), seconds. */
  retainSeconds: number;
}

/** What the keyset should become at `now`: the keys to keep, and when a new key should sign (null: none needed). */
export interface KeyPlan {
  keep: FleetKey[];
  newKeySignsFrom: number | null;
}

/**
 * The rotation rule, one pure function of the keyset and the clock. The signing key is the
 * newest one whose `signsFrom` has come. A new key is made `leadSeconds` before the signing key's
 * period ends, and signs only from then on (so every instance and Google's key cache has seen it
 * published); a key that stopped signing stays published for `retainSeconds`, so every token it
 * signed has expired by the time it goes. The very first key signs at once: nothing cached an
 * older JWKS. The same keyset and clock give the same plan on every instance, so writers that race
 * (compare-and-swap) agree.
 */
export function planKeys(
  keys: readonly FleetKey[],
  now: number,
  settings: RotationSettings,
): KeyPlan {
  const sorted = [...keys].sort((a, b) => a.signsFrom - b.signsFrom || a.createdAt - b.createdAt);
  if (sorted.length === 0) return { keep: [], newKeySignsFrom: now };
  const signing = signingIndex(sorted, now);
  // A key older than the signer goes once its successor has signed for retainSeconds.
  const keep = sorted.filter(
    (key, i) => i >= signing || sorted[i + 1]!.signsFrom >= now - settings.retainSeconds,
  );
  const newest = sorted.at(-1)!;
  const due =
    newest.signsFrom <= now &&
    now >= newest.signsFrom + settings.rotationSeconds - settings.leadSeconds;
  return {
    keep,
    newKeySignsFrom: due
      ? Math.max(newest.signsFrom + settings.rotationSeconds, now + settings.leadSeconds)
      : null,
  };
}

/** The key that signs at `now`: the newest whose time has come (the oldest if none has, which only a clock gone back makes). */
export function signingKey(keys: readonly FleetKey[], now: number): FleetKey | undefined {
  const sorted = [...keys].sort((a, b) => a.signsFrom - b.signsFrom || a.createdAt - b.createdAt);
  return sorted[signingIndex(sorted, now)];
}

function signingIndex(sorted: readonly FleetKey[], now: number): number {
  let index = 0;
  sorted.forEach((key, i) => {
    if (key.signsFrom <= now) index = i;
  });
  return index;
}

/** The public keys to publish, oldest first. */
export function publishedKeys(keys: readonly FleetKey[]): PublicJwk[] {
  return [...keys].sort((a, b) => a.createdAt - b.createdAt).map((key) => key.publicJwk);
}
