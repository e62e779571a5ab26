import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gcsLayout } from '../../src/gcs/layout.js';
import {
  md5Base64,
  OWNER_KEY,
  PUBLICATION_KEY,
  RECORD_GENERATION_KEY,
} from '../../src/gcs/mirror.js';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import type { PublicJwk } from '../../src/oidc/jwks.js';
import {
  DISCOVERY_CONTENT_TYPE,
  JWKS_CONTENT_TYPE,
  publishCluster,
  publishDocument,
} from '../../src/oidc/published.js';
import { GcsStore } from '../../src/registry/gcs-store.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { generateClusterKey } from '../support/keys.js';

const at = '2026-11-22T12:00:00.000Z';
const good = generateClusterKey('RS256');
if (good.jwk.kty !== 'RSA') throw new Error('unreachable');
// e = 1: every signature is its own padded message; stored by a version before the RSA rule.
const forgeable: PublicJwk = { ...good.jwk, kid: 'forgeable', e: 'AQ' };

/**
 * A bucket as a version before the publication rule left it (issue #10 leftover): the record and
 * both documents with the degenerate key published, the record labelled with those documents'
 * MD5s, the documents without a publication-rule version.
 */
async function writeAsOldVersion(
  storage: Storage,
  bucket: string,
  prefix: string,
): Promise<ClusterRecord> {
  const layout = gcsLayout(bucket, prefix);
  const record: ClusterRecord = {
    id: 'c1',
    issuer: 'https://issuer.example/c1',
    syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
    keys: [good.jwk, forgeable].map((jwk) => ({ jwk, firstSeen: at, lastSeen: at })),
    keyEvents: [],
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
  const jwks = await publishDocument({ keys: [good.jwk, forgeable] }, JWKS_CONTENT_TYPE);
  const discovery = await publishDocument(
    buildDiscovery(record.issuer, [good.jwk, forgeable]),
    DISCOVERY_CONTENT_TYPE,
  );
  const raw = storage.bucket(bucket);
  const recordFile = raw.file(layout.record('c1'));
  await recordFile.save(`${JSON.stringify(record)}\n`, {
    resumable: false,
    contentType: 'application/json',
    metadata: {
      cacheControl: 'no-store',
      metadata: {
        'idbridge-jwks-md5': md5Base64(jwks.body),
        'idbridge-discovery-md5': md5Base64(discovery.body),
      },
    },
  });
  const [meta] = await recordFile.getMetadata();
  for (const [name, doc] of [
    [layout.jwks('c1'), jwks],
    [layout.discovery('c1'), discovery],
  ] as const) {
    await raw.file(name).save(Buffer.from(doc.body), {
      resumable: false,
      contentType: doc.headers['content-type']!,
      metadata: {
        cacheControl: doc.headers['cache-control'],
        metadata: { [OWNER_KEY]: 'registry', [RECORD_GENERATION_KEY]: String(meta.generation) },
      },
      predefinedAcl: 'publicRead',
    });
  }
  return record;
}

describe('GCS mirror after an upgrade of the publication rule', () => {
  let h: GcsHarness;
  beforeAll(async () => {
    h = await startGcsHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('republishes a bucket an older version wrote, withholding the degenerate key, and then reads nothing more', async () => {
    const bucket = await h.newBucket();
    await writeAsOldVersion(h.storage, bucket, 'issuers');
    const served = async (path: string): Promise<{ keys: PublicJwk[] }> =>
      (await fetch(`${h.gcs.url}/${bucket}/issuers/c1/${path}`)).json() as Promise<{
        keys: PublicJwk[];
      }>;
    expect((await served('openid/v1/jwks')).keys.map((k: PublicJwk) => k.kid)).toEqual([
      good.jwk.kid,
      'forgeable',
    ]);

    const store = new GcsStore({
      storage: new Storage({ apiEndpoint: h.gcs.url }),
      bucket,
      prefix: 'issuers',
      acl: 'fine-grained',
    });
    expect(await store.reconcile()).toEqual({
      records: 1,
      republished: ['c1'],
      orphansDeleted: [],
    });

    const expected = await publishCluster('c1', 'https://issuer.example/c1', [good.jwk, forgeable]);
    expect(await served('openid/v1/jwks')).toEqual({ keys: [good.jwk] });
    expect(await served('.well-known/openid-configuration')).toEqual(
      JSON.parse(new TextDecoder().decode(expected.discovery.body)),
    );
    const [jwksMeta] = await h.storage
      .bucket(bucket)
      .file('issuers/c1/openid/v1/jwks')
      .getMetadata();
    expect(jwksMeta.metadata?.[PUBLICATION_KEY]).toBe('2');

    // The record's labels now match what it publishes: the next reconciliation reads and writes nothing.
    h.gcs.resetStats();
    expect(await store.reconcile()).toEqual({ records: 1, republished: [], orphansDeleted: [] });
    expect(
      h.gcs.stats().mediaReads + h.gcs.stats().objectWrites + h.gcs.stats().metadataPatches,
    ).toBe(0);
  });

  it('downloads only the records whose documents an older rule wrote', async () => {
    const bucket = await h.newBucket();
    await writeAsOldVersion(h.storage, bucket, 'issuers');
    const store = new GcsStore({
      storage: new Storage({ apiEndpoint: h.gcs.url }),
      bucket,
      prefix: 'issuers',
      acl: 'fine-grained',
    });
    await store.put(
      {
        ...(await store.get('c1'))!.record,
        id: 'c2',
        issuer: 'https://issuer.example/c2',
        keys: [{ jwk: good.jwk, firstSeen: at, lastSeen: at }],
      },
      null,
    );
    h.gcs.resetStats();
    expect(await store.reconcile()).toEqual({
      records: 2,
      republished: ['c1'],
      orphansDeleted: [],
    });
    expect(h.gcs.stats().mediaReads).toBe(1);
  });

  it('withholds the key in the bucket on the first open after an upgrade', async () => {
    const bucket = await h.newBucket();
    await writeAsOldVersion(h.storage, bucket, 'issuers');
    const errors: unknown[] = [];
    const store = GcsStore.open({
      storage: new Storage({ apiEndpoint: h.gcs.url }),
      bucket,
      prefix: 'issuers',
      acl: 'fine-grained',
      onBackgroundError: (_what, err) => errors.push(err),
    });
    await expect
      .poll(
        async () =>
          (
            (await (await fetch(`${h.gcs.url}/${bucket}/issuers/c1/openid/v1/jwks`)).json()) as {
              keys: unknown[];
            }
          ).keys.length,
        { interval: 20, timeout: 10_000 },
      )
      .toBe(1);
    expect(await (await fetch(`${h.gcs.url}/${bucket}/issuers/c1/openid/v1/jwks`)).json()).toEqual({
      keys: [good.jwk],
    });
    expect(errors).toEqual([]);
    store.stop();
  });
});
