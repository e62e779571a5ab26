import type { DocumentKind } from '../oidc/paths.js';
import { readCapped } from '../net/read-capped.js';
import { MAX_DOCUMENT_BYTES } from '../oidc/limits.js';
import { meansMissing, originDocumentUrl, type Origin } from './origin.js';

/** What the origin answered for one document. */
export type DocumentFetch =
  | { status: 'ok'; text: string; etag: string | null }
  | { status: 'not-modified' }
  | { status: 'missing'; httpStatus: number }
  | { status: 'fault'; reason: string };

export type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

export type FetchedDocuments = Record<DocumentKind, DocumentFetch>;

/**
 * Asks the origin for both documents at once, conditionally on the validators it gave last
 * time. One deadline covers both, headers and bodies: a slow origin costs at most `timeoutMs`.
 */
export async function fetchOriginDocuments(
  fetcher: Fetcher,
  origin: Origin,
  cluster: string,
  etags: Record<DocumentKind, string | null> | undefined,
  timeoutMs: number,
): Promise<FetchedDocuments> {
  const signal = AbortSignal.timeout(timeoutMs);
  const one = (kind: DocumentKind) =>
    fetchDocument(
      fetcher,
      origin,
      originDocumentUrl(origin, cluster, kind),
      etags?.[kind] ?? null,
      signal,
      timeoutMs,
    );
  const [discovery, jwks] = await Promise.all([one('discovery'), one('jwks')]);
  return { discovery, jwks };
}

async function fetchDocument(
  fetcher: Fetcher,
  origin: Origin,
  url: string,
  etag: string | null,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<DocumentFetch> {
  let res: Response;
  try {
    res = await fetcher(url, {
      headers: {
        accept: 'application/json, application/jwk-set+json',
        ...(etag ? { 'if-none-match': etag } : {}),
      },
      // The origin's answer is checked before anything is served: never follow it elsewhere.
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    return {
      status: 'fault',
      reason: signal.aborted
        ? `the origin did not answer within ${timeoutMs} ms`
        : `the origin is unreachable (${describe(err)})`,
    };
  }
  if (res.status === 304 && etag) {
    await discard(res);
    return { status: 'not-modified' };
  }
  if (meansMissing(origin, res.status)) {
    await discard(res);
    return { status: 'missing', httpStatus: res.status };
  }
  if (res.status !== 200) {
    await discard(res);
    return { status: 'fault', reason: `the origin answered HTTP ${res.status}` };
  }
  try {
    const bytes = await readCapped(res, MAX_DOCUMENT_BYTES);
    if (bytes === null)
      return {
        status: 'fault',
        reason: `the origin sent more than ${MAX_DOCUMENT_BYTES / 1024} KiB`,
      };
    return {
      status: 'ok',
      text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes),
      etag: res.headers.get('etag'),
    };
  } catch (err) {
    if (signal.aborted)
      return {
        status: 'fault',
        reason: `the origin did not finish sending within ${timeoutMs} ms`,
      };
    return { status: 'fault', reason: `the origin's answer could not be read (${describe(err)})` };
  }
}

async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}

/** An error's class and message, cut short: network errors name hosts, never secrets. */
function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 200);
  return String(err).slice(0, 200);
}
