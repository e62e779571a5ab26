import { CRC32C, Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64, startFakeGcs, type FakeGcs } from './gcs.js';

/** The GCS fake, driven only through the real @google-cloud/storage client. */
describe('GCS fake', () => {
  let gcs: FakeGcs;
  let storage: Storage;

  beforeAll(async () => {
    gcs = await startFakeGcs();
    // No retries here: these tests look at single answers.
    storage = new Storage({
      apiEndpoint: gcs.url,
      projectId: 'idbridge-test',
      retryOptions: { autoRetry: false },
    });
    await storage.createBucket('fine');
    await storage.createBucket('uniform', {
      iamConfiguration: { uniformBucketLevelAccess: { enabled: true } },
    });
  });
  afterAll(async () => {
    await gcs?.close();
  });

  it('computes CRC32C as the client library does', () => {
    for (const text of ['', 'a', '{"keys":[]}', 'x'.repeat(10_000)]) {
      const reference = new CRC32C();
      reference.update(Buffer.from(text));
      expect(crc32cBase64(Buffer.from(text))).toBe(reference.toString());
    }
  });

  it('stores multipart and resumable uploads with content type, cache control and custom metadata', async () => {
    const file = storage.bucket('fine').file('c1/openid/v1/jwks');
    await file.save('{"keys":[]}', {
      resumable: false,
      contentType: 'application/jwk-set+json',
      metadata: { cacheControl: 'public, max-age=300', metadata: { owner: 'test' } },
    });
    const [meta] = await file.getMetadata();
    expect(meta).toMatchObject({
      contentType: 'application/jwk-set+json',
      cacheControl: 'public, max-age=300',
      metadata: { owner: 'test' },
      size: '11',
    });
    const [contents] = await file.download();
    expect(contents.toString()).toBe('{"keys":[]}');

    const big = storage.bucket('fine').file('big.bin');
    const data = Buffer.alloc(300_000, 7);
    await big.save(data, { resumable: true, contentType: 'application/octet-stream' });
    expect((await big.download())[0].equals(data)).toBe(true);
  });

  it('answers generation preconditions with 412 and keeps the object', async () => {
    const file = storage.bucket('fine').file('cas');
    await file.save('one', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const [meta] = await file.getMetadata();
    const generation = meta.generation!;
    await expect(
      file.save('two', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    ).rejects.toMatchObject({ code: 412 });
    await expect(
      file.save('two', {
        resumable: false,
        preconditionOpts: { ifGenerationMatch: Number(generation) + 1 },
      }),
    ).rejects.toMatchObject({ code: 412 });
    await file.save('two', {
      resumable: false,
      preconditionOpts: { ifGenerationMatch: generation },
    });
    expect((await file.download())[0].toString()).toBe('two');
    await expect(file.delete({ ifGenerationMatch: generation })).rejects.toMatchObject({
      code: 412,
    });
    expect(gcs.stats().preconditionFailures).toBeGreaterThanOrEqual(3);
  });

  it('404s a missing object and deletes with a matching generation', async () => {
    await expect(storage.bucket('fine').file('nope').download()).rejects.toMatchObject({
      code: 404,
    });
    const file = storage.bucket('fine').file('gone');
    await file.save('x', { resumable: false });
    const [meta] = await file.getMetadata();
    await file.delete({ ifGenerationMatch: meta.generation });
    await expect(file.getMetadata()).rejects.toMatchObject({ code: 404 });
  });

  it('lists with prefix, startOffset, delimiter and pages', async () => {
    const bucket = storage.bucket('fine');
    for (const id of ['a', 'a-b', 'b', 'c', 'd'])
      await bucket.file(`list/${id}`).save(id, { resumable: false });
    const [all] = await bucket.getFiles({ prefix: 'list/' });
    expect(all.map((f) => f.name)).toEqual(['list/a', 'list/a-b', 'list/b', 'list/c', 'list/d']);
    const [first, next] = await bucket.getFiles({
      prefix: 'list/',
      maxResults: 2,
      autoPaginate: false,
    });
    expect(first.map((f) => f.name)).toEqual(['list/a', 'list/a-b']);
    const [second] = await bucket.getFiles({ ...next, autoPaginate: false });
    expect(second.map((f) => f.name)).toEqual(['list/b', 'list/c']);
    const [offset] = await bucket.getFiles({ prefix: 'list/', startOffset: 'list/b' });
    expect(offset.map((f) => f.name)).toEqual(['list/b', 'list/c', 'list/d']);
    const [, , response] = await bucket.getFiles({
      prefix: '',
      delimiter: '/',
      autoPaginate: false,
    });
    expect((response as { prefixes?: string[] }).prefixes).toEqual(
      expect.arrayContaining(['c1/', 'list/']),
    );
  });

  it('refuses object ACLs on a uniform bucket, as GCS does', async () => {
    await expect(
      storage
        .bucket('uniform')
        .file('x')
        .save('x', { resumable: false, predefinedAcl: 'publicRead' }),
    ).rejects.toMatchObject({
      code: 400,
      message: expect.stringMatching(/uniform bucket-level access/),
    });
  });

  it('serves public objects anonymously at /{bucket}/{object} and hides the rest', async () => {
    const bucket = storage.bucket('fine');
    await bucket.file('pub/c1/.well-known/openid-configuration').save('{"issuer":"x"}', {
      resumable: false,
      predefinedAcl: 'publicRead',
      contentType: 'application/json',
      metadata: { cacheControl: 'public, max-age=300' },
    });
    await bucket.file('pub/.records/c1').save('{}', { resumable: false, predefinedAcl: 'private' });
    const res = await fetch(`${gcs.url}/fine/pub/c1/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await res.text()).toBe('{"issuer":"x"}');
    const etag = res.headers.get('etag')!;
    expect(
      (
        await fetch(`${gcs.url}/fine/pub/c1/.well-known/openid-configuration`, {
          headers: { 'if-none-match': etag },
        })
      ).status,
    ).toBe(304);
    const hidden = await fetch(`${gcs.url}/fine/pub/.records/c1`);
    expect(hidden.status).toBe(403);
    expect(await hidden.text()).toMatch(/<Code>AccessDenied<\/Code>/);
    expect((await fetch(`${gcs.url}/fine/pub/missing`)).status).toBe(403);
    expect((await fetch(`${gcs.url}/no-such-bucket/x`)).status).toBe(404);
  });

  it('makes a uniform bucket public through its IAM policy', async () => {
    const bucket = storage.bucket('uniform');
    await bucket.file('doc').save('hello', { resumable: false, contentType: 'text/plain' });
    expect((await fetch(`${gcs.url}/uniform/doc`)).status).toBe(403);
    const [policy] = await bucket.iam.getPolicy();
    policy.bindings.push({ role: 'roles/storage.objectViewer', members: ['allUsers'] });
    await bucket.iam.setPolicy(policy);
    expect(await (await fetch(`${gcs.url}/uniform/doc`)).text()).toBe('hello');
    expect((await fetch(`${gcs.url}/uniform/missing`)).status).toBe(404);
  });

  it('injects faults and the client sees them as API errors', async () => {
    gcs.fail({ status: 503, count: 1 });
    await expect(storage.bucket('fine').file('cas').download()).rejects.toMatchObject({
      code: 503,
    });
    expect((await storage.bucket('fine').file('cas').download())[0].toString()).toBe('two');
  });
});
