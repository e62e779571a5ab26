import { base64url } from 'jose';
import type { FleetClaims } from './claims.js';

/**
 * The JWS compact serialization's signing input of a fleet token (`header.payload`). Both signers
 * build tokens from it: the local one signs it with node:crypto (synchronous, a fraction of what
 * WebCrypto's asynchronous round trip costs per mint), the KMS one sends its SHA-256 digest.
 */
export function signingInput(kid: string, claims: FleetClaims): string {
  const header = base64url.encode(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }));
  return `${header}.${base64url.encode(JSON.stringify(claims))}`;
}

/** The finished token: the signing input and the raw r‖s signature. */
export function compactJws(input: string, signature: Uint8Array): string {
  return `${input}.${base64url.encode(signature)}`;
}
