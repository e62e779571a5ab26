import type { PublicJwk } from '../oidc/jwks.js';
import type { CheckedDocuments, ServedDocuments } from './documents.js';

/** What a publish did. */
export interface PublishOutcome {
  /** False when the target already held exactly these documents: nothing was written. */
  changed: boolean;
  added: string[];
  removed: string[];
  warnings: string[];
  /** The cluster record's version after the push (API target). */
  version?: number;
  /** More is to be written by the next cycle (the wif-provider target's deferred key removal). */
  pending?: boolean;
  /** The keys the target holds after this publish (the wif-provider target: the provider's uploaded set). */
  keys?: readonly PublicJwk[];
}

/** Where `idbridge sync` publishes: the registration API, a bucket, or a provider's uploaded keys. */
export interface SyncTarget {
  /** For logs, e.g. `https://api.example/api/v1/clusters/c1/keys`. Never holds secrets. */
  readonly description: string;
  publish(checked: CheckedDocuments, served: ServedDocuments): Promise<PublishOutcome>;
}
