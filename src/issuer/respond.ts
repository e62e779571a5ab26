import type { PublishedDocument } from '../oidc/published.js';

/** What to send for a public document: decided here once for every host. */
export interface DocumentAnswer {
  status: 200 | 304;
  headers: Readonly<Record<string, string>>;
  /** null for HEAD and 304. */
  body: Uint8Array | null;
}

const notModifiedHeaders = new WeakMap<PublishedDocument, Readonly<Record<string, string>>>();

export function answerDocument(
  doc: PublishedDocument,
  method: string,
  ifNoneMatch: string | null | undefined,
): DocumentAnswer {
  if (ifNoneMatch && etagMatches(ifNoneMatch, doc.etag)) {
    let headers = notModifiedHeaders.get(doc);
    if (!headers) {
      const { 'content-length': _length, 'content-type': _type, ...rest } = doc.headers;
      headers = Object.freeze(rest);
      notModifiedHeaders.set(doc, headers);
    }
    return { status: 304, headers, body: null };
  }
  return { status: 200, headers: doc.headers, body: method === 'HEAD' ? null : doc.body };
}

/** RFC 9110 If-None-Match: a list of entity tags compared weakly, or `*`. */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === etag) return true;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const candidate of ifNoneMatch.split(',')) {
    const tag = candidate.trim();
    if (tag === '*') return true;
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === opaque) return true;
  }
  return false;
}
