import { IdbridgeError, StoreConflictError } from '../errors.js';

/** The HTTP status of an error from @google-cloud/storage (ApiError.code), if it has one. */
export function gcsStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isPreconditionFailed(err: unknown): boolean {
  return gcsStatus(err) === 412;
}

export function isNotFound(err: unknown): boolean {
  return gcsStatus(err) === 404;
}

/**
 * Maps a Cloud Storage failure to idbridge's error: a lost generation precondition is a
 * compare-and-swap conflict, everything else makes the store unavailable (503) with what to check.
 * GCS messages name buckets and objects, never credentials.
 */
export function fromGcsError(err: unknown, what: string): IdbridgeError {
  if (err instanceof IdbridgeError) return err;
  const status = gcsStatus(err);
  if (status === 412) return new StoreConflictError(what);
  if (status === 401 || status === 403) {
    return new IdbridgeError(
      'store_unavailable',
      `Cloud Storage refused access to ${what} (${status}); grant this host's service account roles/storage.objectAdmin on the bucket`,
      [],
      { cause: err },
    );
  }
  if (status === 404) {
    return new IdbridgeError(
      'store_unavailable',
      `Cloud Storage cannot find ${what}: check that the bucket exists (IDBRIDGE_STORE=gcs://BUCKET/PREFIX)`,
      [],
      { cause: err },
    );
  }
  if (status === 400) {
    const detail = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : '';
    const hint = /uniform bucket-level access/i.test(detail)
      ? ' — the bucket uses uniform bucket-level access: set IDBRIDGE_GCS_OBJECT_ACL=uniform'
      : '';
    return new IdbridgeError(
      'store_unavailable',
      `Cloud Storage refused a write to ${what}: ${detail}${hint}`,
      [],
      { cause: err },
    );
  }
  const reason =
    status !== undefined
      ? `HTTP ${status}`
      : ((err as { code?: unknown } | null)?.code ?? (err instanceof Error ? err.name : 'error'));
  return new IdbridgeError(
    'store_unavailable',
    `Cloud Storage is not reachable for ${what} (${String(reason)}); retry later`,
    [],
    { cause: err },
  );
}
