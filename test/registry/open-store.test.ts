import { describe, expect, it } from 'vitest';
import { bucketPublicBase, parseBucketPath } from '../../src/gcs/layout.js';
import { parseStoreLocation } from '../../src/registry/open-store.js';
import { GcsTarget } from '../../src/sync/gcs-target.js';

/** IDBRIDGE_STORE, sync --target and the edge's IDBRIDGE_ORIGIN read bucket locations one way. */
describe('bucket locations', () => {
  it('reads gcs://BUCKET/PREFIX', () => {
    expect(parseStoreLocation('gcs://my-bucket/idbridge/issuers/')).toEqual({
      kind: 'gcs',
      bucket: 'my-bucket',
      prefix: 'idbridge/issuers',
    });
    expect(parseStoreLocation('gcs://my-bucket')).toEqual({
      kind: 'gcs',
      bucket: 'my-bucket',
      prefix: '',
    });
    expect(parseStoreLocation('memory:')).toEqual({ kind: 'memory' });
  });

  it.each([
    ['gcs://My_Bucket!/p', /valid bucket name/],
    ['gcs://b/p', /valid bucket name/],
    ['gcs://my-bucket/a/../b', /"\.\." segment/],
    ['gcs://my-bucket/a//b', /empty, "\." or "\.\." segment/],
  ])('refuses %s', (value, problem) => {
    const parsed = parseBucketPath(value.slice('gcs://'.length));
    expect('problem' in parsed && parsed.problem).toMatch(problem);
    expect(() => parseStoreLocation(value)).toThrow(
      /is not a store; use file:DIR, memory: or gcs:\/\/BUCKET\/PREFIX/,
    );
  });

  it('builds the bucket-hosted issuer the edge reads, percent-encoding prefix segments', () => {
    const base = bucketPublicBase('https://storage.googleapis.com', {
      bucket: 'b-1',
      prefix: 'team a/issuers',
    });
    expect(base).toBe('https://storage.googleapis.com/b-1/team%20a/issuers');
    expect(GcsTarget.bucketIssuer('b-1', 'team a/issuers', 'prod')).toBe(`${base}/prod`);
    expect(GcsTarget.bucketIssuer('b-1', '', 'prod')).toBe(
      'https://storage.googleapis.com/b-1/prod',
    );
  });
});
