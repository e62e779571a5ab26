import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../support/functions.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { REPO_ROOT } from '../support/serve.js';

const ADMIN_TOKEN = 'functions-malformed-token-0123456789';
const SA = 'app@proj.iam.gserviceaccount.com';
type Shape = 'api' | 'sts' | 'iam';

/** Every route that takes a body, with the error shape its API answers in. */
const ROUTES: Array<{
  name: string;
  method: string;
  path: string;
  shape: Shape;
  headers?: Record<string, string>;
}> = [
  {
    name: 'registration',
    method: 'POST',
    path: '/api/v1/clusters',
    shape: 'api',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  },
  {
    name: 'cluster update',
    method: 'PATCH',
    path: '/api/v1/clusters/c1',
    shape: 'api',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  },
  {
    name: 'sync push',
    method: 'PUT',
    path: '/api/v1/clusters/c1/keys',
    shape: 'api',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  },
  { name: 'STS token', method: 'POST', path: '/v1/token', shape: 'sts' },
  { name: 'STS introspect', method: 'POST', path: '/v1/introspect', shape: 'sts' },
  {
    name: 'generateAccessToken',
    method: 'POST',
    path: `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
    shape: 'iam',
    headers: { authorization: 'Bearer ya29.not-issued' },
  },
  {
    name: 'generateIdToken',
    method: 'POST',
    path: `/v1/projects/-/serviceAccounts/${SA}:generateIdToken`,
    shape: 'iam',
    headers: { authorization: 'Bearer ya29.not-issued' },
  },
];

const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';
/** Bodies the Functions Framework's own parsers refuse, or that the app must refuse itself. */
const BODIES: Array<{
  name: string;
  contentType: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
}> = [
  { name: 'malformed JSON', contentType: JSON_TYPE, body: '{"id": c1' },
  { name: 'a JSON string (strict parser)', contentType: JSON_TYPE, body: '"eyJhbGciOi.secret"' },
  {
    name: 'JSON nested 30,000 deep',
    contentType: JSON_TYPE,
    body: `{"options":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
  },
  {
    name: 'JSON in an unknown charset',
    contentType: `${JSON_TYPE}; charset=klingon`,
    body: '{"id":"c1"}',
  },
  {
    name: 'a form with 1,001 fields',
    contentType: FORM,
    body: Array.from({ length: 1001 }, (_, i) => `f${i}=1`).join('&'),
  },
  { name: 'a form nested 40 deep', contentType: FORM, body: `a${'[b]'.repeat(40)}=1` },
  { name: 'malformed form encoding', contentType: FORM, body: '%%%&=&%ZZ' },
  { name: 'a multipart body', contentType: 'multipart/form-data; boundary=x', body: '--x--' },
  {
    name: 'an over-size JSON body',
    contentType: JSON_TYPE,
    body: JSON.stringify({ pad: 'x'.repeat(300 * 1024) }),
  },
  {
    name: 'gzip that does not inflate',
    contentType: JSON_TYPE,
    body: new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4]),
    headers: { 'content-encoding': 'gzip' },
  },
  {
    name: 'an unknown content encoding',
    contentType: JSON_TYPE,
    body: gzipSync('{}'),
    headers: { 'content-encoding': 'compress' },
  },
];

describe('Cloud Function host: bodies the framework cannot parse', () => {
  let gcs: GcsHarness;
  let fn: FunctionsHost;

  beforeAll(async () => {
    gcs = await startGcsHarness();
    const bucket = await gcs.newBucket();
    // Outside production Express would print the stack: the answers must not depend on NODE_ENV.
    fn = await startFunctionsHost({
      IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
      IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
      IDBRIDGE_PUBLIC_URL: 'https://edge.example',
      IDBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
      NODE_ENV: 'development',
    });
    const created = await fetch(`${fn.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': JSON_TYPE },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(generateClusterKey('ES256')) }),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await fn?.close();
    await gcs?.close();
  });

  const cases = ROUTES.flatMap((route) =>
    BODIES.map((body) => ({ ...route, body, label: `${route.name}: ${body.name}` })),
  );
  it.each(cases)(
    "$label → 4xx in the endpoint's own JSON shape, no stack",
    async ({ method, path, shape, headers, body }) => {
      const before = await (
        await fetch(`${fn.url}/api/v1/clusters/c1`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).text();
      const res = await fetch(`${fn.url}${path}`, {
        method,
        headers: { ...headers, ...body.headers, 'content-type': body.contentType },
        body: body.body,
      });
      const text = await res.text();
      expect(res.status, text).toBeGreaterThanOrEqual(400);
      expect(res.status, text).toBeLessThan(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(text).not.toMatch(/<html|<pre|\bat [\w.<>]+ \(|node_modules|SyntaxError/i);
      expect(text).not.toContain(REPO_ROOT);
      const answer = JSON.parse(text) as Record<string, unknown>;
      if (shape === 'sts')
        expect(answer).toEqual({
          error: expect.any(String),
          error_description: expect.any(String),
        });
      else if (shape === 'iam')
        expect(answer).toEqual({
          error: { code: res.status, message: expect.any(String), status: expect.any(String) },
        });
      else
        expect(answer).toEqual({
          error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
        });
      expect(
        await (
          await fetch(`${fn.url}/api/v1/clusters/c1`, {
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          })
        ).text(),
      ).toBe(before);
    },
  );

  it("keeps the framework's stack traces and the callers' bodies out of its output", () => {
    expect(fn.output()).not.toMatch(/at JSON\.parse|node_modules\/body-parser|eyJhbGciOi/);
  });
});
