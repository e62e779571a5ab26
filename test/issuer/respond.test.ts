import { describe, expect, it } from 'vitest';
import { matchDocumentPath } from '../../src/oidc/paths.js';
import { publishDocument } from '../../src/oidc/published.js';
import { answerDocument, etagMatches } from '../../src/issuer/respond.js';

describe('public document answers', () => {
  it('matches If-None-Match like RFC 9110 (weak comparison, lists, *)', () => {
    const etag = '"abc"';
    expect(etagMatches('"abc"', etag)).toBe(true);
    expect(etagMatches('W/"abc"', etag)).toBe(true);
    expect(etagMatches('"x", "abc"', etag)).toBe(true);
    expect(etagMatches('*', etag)).toBe(true);
    expect(etagMatches('"abcd"', etag)).toBe(false);
    expect(etagMatches('abc', etag)).toBe(false);
    expect(etagMatches('', etag)).toBe(false);
  });

  it('answers 304 without body or content headers, HEAD without body, GET with both', async () => {
    const doc = await publishDocument({ keys: [] }, 'application/jwk-set+json');
    const notModified = answerDocument(doc, 'GET', doc.etag);
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBeNull();
    expect(notModified.headers).not.toHaveProperty('content-length');
    expect(notModified.headers).toMatchObject({
      etag: doc.etag,
      'cache-control': 'public, max-age=300',
    });
    expect(answerDocument(doc, 'HEAD', null)).toMatchObject({
      status: 200,
      body: null,
      headers: { 'content-length': String(doc.body.byteLength) },
    });
    expect(new TextDecoder().decode(answerDocument(doc, 'GET', '"other"').body!)).toBe(
      '{"keys":[]}',
    );
  });

  it('derives the ETag from the bytes', async () => {
    const a = await publishDocument({ keys: [] }, 'application/json');
    const b = await publishDocument({ keys: [] }, 'application/json');
    const c = await publishDocument({ keys: [1] }, 'application/json');
    expect(a.etag).toBe(b.etag);
    expect(a.etag).not.toBe(c.etag);
  });

  it('recognizes exactly the two document paths', () => {
    expect(matchDocumentPath('/c1/openid/v1/jwks')).toEqual({ cluster: 'c1', kind: 'jwks' });
    expect(matchDocumentPath('/c1/.well-known/openid-configuration')).toEqual({
      cluster: 'c1',
      kind: 'discovery',
    });
    for (const path of [
      '/openid/v1/jwks',
      '//openid/v1/jwks',
      '/c1/openid/v1/jwks/',
      '/c1/x/openid/v1/jwks',
      '/c1',
      '',
      'c1/openid/v1/jwks',
      '/c1/openid/v1/JWKS',
    ]) {
      expect(matchDocumentPath(path), path).toBeNull();
    }
  });
});
