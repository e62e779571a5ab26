import type { ClusterDocuments } from '../oidc/published.js';
import type { FleetClaims } from './claims.js';

/** A minted fleet token and the key that signed it. */
export interface MintedToken {
  token: string;
  kid: string;
}

/**
 * What mints fleet tokens and publishes the keys that verify them: the store's own rotated key
 * (local-keys.ts) or a Cloud KMS key version (kms-signer.ts).
 */
export interface FleetSigner {
  sign(claims: FleetClaims): Promise<MintedToken>;
  /** The fleet issuer's discovery document and JWKS. */
  documents(): Promise<ClusterDocuments>;
  /** The same, when in memory and fresh (the issuer's synchronous fast path). */
  peekDocuments(): ClusterDocuments | undefined;
}
