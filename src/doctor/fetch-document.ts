import { describeFetchError } from '../net/fetch-error.js';
import { readCapped } from '../net/read-capped.js';
import { MAX_DOCUMENT_BYTES } from '../oidc/limits.js';

/** One HTTP GET of a public issuer document, as a verifier would make it, with what came back. */
export interface FetchedDocument {
  url: string;
  /** Redirects followed, in order (a verifier may not follow them). */
  redirects: string[];
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body was longer than any issuer document has reason to be and was cut. */
  truncated: boolean;
  ms: number;
}

export type FetchResult =
  { ok: true; doc: FetchedDocument } | { ok: false; url: string; error: string; ms: number };

export interface FetchDeps {
  fetch: typeof fetch;
  timeoutMs: number;
  /** Monotonic milliseconds, for timings. */
  clock: () => number;
}

const MAX_REDIRECTS = 5;

/** GETs `url` following up to five redirects by hand (so they can be reported), body capped. */
export async function fetchDocument(url: string, deps: FetchDeps): Promise<FetchResult> {
  const started = deps.clock();
  const redirects: string[] = [];
  let current = url;
  try {
    const signal = AbortSignal.timeout(deps.timeoutMs);
    for (;;) {
      const res = await deps.fetch(current, {
        redirect: 'manual',
        signal,
        headers: { accept: 'application/json' },
      });
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location && redirects.length < MAX_REDIRECTS) {
        await res.body?.cancel();
        current = new URL(location, current).href;
        redirects.push(current);
        continue;
      }
      const bytes = await readCapped(res, MAX_DOCUMENT_BYTES);
      const truncated = bytes === null;
      const text = bytes === null ? '' : new TextDecoder().decode(bytes);
      return {
        ok: true,
        doc: {
          url,
          redirects,
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: text,
          truncated,
          ms: Math.round(deps.clock() - started),
        },
      };
    }
  } catch (err) {
    return {
      ok: false,
      url: current,
      error: describeFetchError(err, deps.timeoutMs),
      ms: Math.round(deps.clock() - started),
    };
  }
}
