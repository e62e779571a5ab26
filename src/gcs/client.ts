import { Storage } from '@google-cloud/storage';
import type { GcsOptions } from '../config/config.js';

/**
 * The Cloud Storage client for the store and `sync --target gcs://`. Credentials come from
 * Application Default Credentials (the Cloud Function's service account, GOOGLE_APPLICATION_CREDENTIALS,
 * a workload identity credential configuration). A configured endpoint is an emulator: the library
 * sends no credentials to it.
 */
export function createStorage(
  options: GcsOptions,
  retries: 'library' | 'caller' = 'library',
): Storage {
  return new Storage({
    ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
    // 'caller': the caller has its own retry loop (idbridge sync's --attempts/--backoff); one policy, not two stacked.
    ...(retries === 'caller' ? { retryOptions: { autoRetry: false, maxRetries: 0 } } : {}),
    // The store abandons a call after timeoutMs: no request, and no retry, outlives that by much.
    ...(retries === 'library' && options.timeoutMs !== undefined
      ? {
          timeout: options.timeoutMs,
          retryOptions: { totalTimeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)) },
        }
      : {}),
  });
}
