import type { ClusterDocuments } from '../oidc/published.js';

/**
 * Where the public routes get a cluster's documents: the registry on `idbridge serve` and the
 * Cloud Function, an origin behind the edge cache on the Worker.
 */
export interface DocumentSource {
  /** The cluster's published documents, or null when no such cluster is published (404). */
  documents(cluster: string): Promise<ClusterDocuments | null>;
  /** Documents already in memory and fresh, looked up synchronously (undefined: ask `documents`). */
  peek?(cluster: string): ClusterDocuments | undefined;
}
