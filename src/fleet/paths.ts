/**
 * The fleet issuer's path segment. `_` is not allowed in a cluster id (a DNS label), so
 * `{IDBRIDGE_PUBLIC_URL}/_fleet` can never be a cluster's issuer.
 */
export const FLEET_SEGMENT = '_fleet';

/** The one issuer the fleet provider trusts. */
export function fleetIssuer(publicUrl: string): string {
  return `${publicUrl}/${FLEET_SEGMENT}`;
}
