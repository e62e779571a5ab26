import { describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../../src/edge/config.js';
import { originDocumentUrl } from '../../src/edge/origin.js';

const base = {
  IDBRIDGE_PUBLIC_URL: 'https://issuer.example.com',
  IDBRIDGE_ORIGIN: 'https://idbridge.internal.example',
};

describe('edge Worker configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadEdgeConfig(base);
    expect(config.publicUrl).toBe('https://issuer.example.com');
    expect(config.origin).toEqual({ kind: 'idbridge', base: 'https://idbridge.internal.example' });
    expect(config.policy).toEqual({
      freshMs: 60_000,
      maxStaleMs: 86_400_000,
      originTimeoutMs: 5000,
    });
    expect(config.statusClusters).toEqual([]);
  });

  it('reads a GCS bucket origin through its public object URLs, with the bucket layout of DESIGN.md', () => {
    const config = loadEdgeConfig({
      ...base,
      IDBRIDGE_ORIGIN: 'gcs://my-bucket/idbridge/prod/',
      IDBRIDGE_STATUS_CLUSTERS: 'c1, c2',
    });
    expect(config.origin).toEqual({
      kind: 'gcs',
      base: 'https://storage.googleapis.com/my-bucket/idbridge/prod',
    });
    expect(originDocumentUrl(config.origin, 'c1', 'jwks')).toBe(
      'https://storage.googleapis.com/my-bucket/idbridge/prod/c1/openid/v1/jwks',
    );
    expect(originDocumentUrl(config.origin, 'c1', 'discovery')).toBe(
      'https://storage.googleapis.com/my-bucket/idbridge/prod/c1/.well-known/openid-configuration',
    );
    expect(config.statusClusters).toEqual(['c1', 'c2']);
    expect(
      loadEdgeConfig({
        ...base,
        IDBRIDGE_ORIGIN: 'gcs://my-bucket',
        IDBRIDGE_GCS_URL: 'http://127.0.0.1:4443/',
      }).origin.base,
    ).toBe('http://127.0.0.1:4443/my-bucket');
  });

  it('takes a bucket as gs:// or as its public URL too', () => {
    expect(loadEdgeConfig({ ...base, IDBRIDGE_ORIGIN: 'gs://my-bucket/p' }).origin).toEqual({
      kind: 'gcs',
      base: 'https://storage.googleapis.com/my-bucket/p',
    });
    expect(
      loadEdgeConfig({ ...base, IDBRIDGE_ORIGIN: 'https://storage.googleapis.com/my-bucket/p/' })
        .origin,
    ).toEqual({ kind: 'gcs', base: 'https://storage.googleapis.com/my-bucket/p' });
    expect(
      loadEdgeConfig({ ...base, IDBRIDGE_ORIGIN: 'https://storage.googleapis.com.evil.example/b' })
        .origin.kind,
    ).toBe('idbridge');
  });

  it('treats empty variables as unset and drops a trailing slash from URLs', () => {
    const config = loadEdgeConfig({
      ...base,
      IDBRIDGE_PUBLIC_URL: 'https://issuer.example.com/',
      IDBRIDGE_EDGE_FRESH_SECONDS: '',
      IDBRIDGE_ORIGIN: 'https://o.example/base/',
    });
    expect(config.publicUrl).toBe('https://issuer.example.com');
    expect(config.policy.freshMs).toBe(60_000);
    expect(config.origin.base).toBe('https://o.example/base');
  });

  const hostile: [string, Record<string, string>, RegExp][] = [
    ['no public URL', { IDBRIDGE_ORIGIN: base.IDBRIDGE_ORIGIN }, /IDBRIDGE_PUBLIC_URL/],
    ['no origin', { IDBRIDGE_PUBLIC_URL: base.IDBRIDGE_PUBLIC_URL }, /IDBRIDGE_ORIGIN is required/],
    [
      'a relative public URL',
      { ...base, IDBRIDGE_PUBLIC_URL: 'issuer.example.com' },
      /IDBRIDGE_PUBLIC_URL must be an absolute http\(s\) URL/,
    ],
    [
      'a public URL with a query',
      { ...base, IDBRIDGE_PUBLIC_URL: 'https://issuer.example.com/?x=1' },
      /must not have a query/,
    ],
    [
      'a public URL with credentials',
      { ...base, IDBRIDGE_PUBLIC_URL: 'https://u:p@issuer.example.com' },
      /must not contain credentials/,
    ],
    [
      'an ftp origin',
      { ...base, IDBRIDGE_ORIGIN: 'ftp://files.example' },
      /IDBRIDGE_ORIGIN: .*https/,
    ],
    [
      'an origin with credentials',
      { ...base, IDBRIDGE_ORIGIN: 'https://user:secret@o.example' },
      /IDBRIDGE_ORIGIN: the origin URL must not contain credentials/,
    ],
    [
      'an origin that is no URL',
      { ...base, IDBRIDGE_ORIGIN: 'storage bucket' },
      /IDBRIDGE_ORIGIN: "storage bucket" is neither/,
    ],
    [
      'an invalid bucket name',
      { ...base, IDBRIDGE_ORIGIN: 'gcs://My_Bucket!/p' },
      /valid bucket name/,
    ],
    ['an invalid gs:// bucket name', { ...base, IDBRIDGE_ORIGIN: 'gs://x' }, /valid bucket name/],
    [
      'a prefix escaping upwards',
      { ...base, IDBRIDGE_ORIGIN: 'gcs://my-bucket/a/../b' },
      /"\.\." segment/,
    ],
    [
      'a negative fresh TTL',
      { ...base, IDBRIDGE_EDGE_FRESH_SECONDS: '-1' },
      /IDBRIDGE_EDGE_FRESH_SECONDS must not be negative/,
    ],
    ['a fractional fresh TTL', { ...base, IDBRIDGE_EDGE_FRESH_SECONDS: '1.5' }, /whole number/],
    [
      'a fresh TTL in words',
      { ...base, IDBRIDGE_EDGE_FRESH_SECONDS: 'one minute' },
      /IDBRIDGE_EDGE_FRESH_SECONDS/,
    ],
    [
      'a stale limit over a week',
      { ...base, IDBRIDGE_EDGE_MAX_STALE_SECONDS: '9999999' },
      /IDBRIDGE_EDGE_MAX_STALE_SECONDS must be at most 604800/,
    ],
    [
      'an origin timeout of a minute',
      { ...base, IDBRIDGE_ORIGIN_TIMEOUT_MS: '60000' },
      /at most 30000/,
    ],
    [
      'status clusters that are not ids',
      { ...base, IDBRIDGE_STATUS_CLUSTERS: 'c1,<script>' },
      /IDBRIDGE_STATUS_CLUSTERS must be a comma-separated list of cluster ids/,
    ],
    [
      'too many status clusters',
      {
        ...base,
        IDBRIDGE_STATUS_CLUSTERS: Array.from({ length: 51 }, (_, i) => `c${i}`).join(','),
      },
      /at most 50/,
    ],
    ['an unknown log level', { ...base, IDBRIDGE_LOG_LEVEL: 'loud' }, /IDBRIDGE_LOG_LEVEL/],
  ];
  it.each(hostile)('refuses %s with a message naming what to fix', (_name, env, message) => {
    expect(() => loadEdgeConfig(env)).toThrow(message);
    expect(() => loadEdgeConfig(env)).toThrow(/invalid Worker configuration/);
  });

  it('never echoes origin credentials in its refusal', () => {
    expect(() =>
      loadEdgeConfig({ ...base, IDBRIDGE_ORIGIN: 'https://user:hunter2@o.example' }),
    ).toThrow(/^(?!.*hunter2)/s);
  });
});
