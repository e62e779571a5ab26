/**
 * Why a sync run failed, as an operator acts on it. Each kind has its own exit code, so a CronJob's
 * status (and alerting on it) says which side to fix.
 */
export type SyncFailureKind = 'config' | 'documents' | 'refused' | 'unavailable';

export const SYNC_EXIT_CODES: Readonly<Record<SyncFailureKind | 'ok' | 'internal', number>> = {
  ok: 0,
  internal: 1,
  /** Flags, kubeconfig, token file, TLS trust: fix the sync job's configuration. */
  config: 2,
  /** The cluster's own issuer documents cannot be published (issuer flag, empty or invalid JWKS). */
  documents: 3,
  /** The kube-apiserver, the API or the bucket refused (credentials, registration, audience, RBAC). */
  refused: 4,
  /** Still unreachable, failing or answering garbage (a proxy's page, an oversized body) after all retries: try again later. */
  unavailable: 5,
};

export class SyncFailure extends Error {
  override readonly name = 'SyncFailure';

  constructor(
    readonly kind: SyncFailureKind,
    message: string,
    /** Worth another attempt in this run (a network error, a 5xx, a conflict, a garbled answer). */
    readonly retryable = kind === 'unavailable',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get exitCode(): number {
    return SYNC_EXIT_CODES[this.kind];
  }
}
