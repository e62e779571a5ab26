import type { DocumentSource } from '../issuer/document-source.js';
import type { ClusterDocuments } from '../oidc/published.js';
import { FLEET_SEGMENT } from './paths.js';
import type { FleetSigner } from './signer.js';

/**
 * The issuer's documents with the fleet issuer's beside the clusters': `/_fleet/…` from the
 * fleet keys (public keys only), every other path from the registry as before.
 */
export class WithFleetDocuments implements DocumentSource {
  readonly #clusters: DocumentSource;
  readonly #fleet: FleetSigner;

  constructor(clusters: DocumentSource, fleet: FleetSigner) {
    this.#clusters = clusters;
    this.#fleet = fleet;
  }

  peek(cluster: string): ClusterDocuments | undefined {
    return cluster === FLEET_SEGMENT ? this.#fleet.peekDocuments() : this.#clusters.peek?.(cluster);
  }

  documents(cluster: string): Promise<ClusterDocuments | null> {
    return cluster === FLEET_SEGMENT ? this.#fleet.documents() : this.#clusters.documents(cluster);
  }
}
