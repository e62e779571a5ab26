import { buildDiscovery } from '../../src/oidc/discovery.js';
import type { PublicJwk } from '../../src/oidc/jwks.js';
import type { IssuerHost } from '../contract/issuer-contract.js';
import { startEdgeWorker, type EdgeWorkerHarness } from './edge-worker.js';
import { freePort } from './net.js';
import { adminApiHost } from './contract-hosts.js';
import { startGcsHarness } from './gcs.js';
import { startServe } from './serve.js';
import { startStaticBucket, type BucketWriter } from './static-bucket.js';

/** Something the Worker reads documents from, and how a test publishes a cluster there. */
export interface EdgeOrigin {
  /** The Worker variables that point it here (IDBRIDGE_ORIGIN, …). */
  vars: Record<string, string>;
  publishCluster(id: string, jwks: { keys: PublicJwk[] }): Promise<void>;
  replaceKeys(id: string, jwks: { keys: PublicJwk[] }): Promise<void>;
  close(): Promise<void>;
}

/** Starts an origin whose clusters are registered under `publicUrl`, the Worker's own URL. */
export type OriginFactory = (publicUrl: string) => Promise<EdgeOrigin>;

/** `idbridge serve` as the origin, configured as in production with the Worker's URL as its public URL. */
export const serveOrigin: OriginFactory = async (publicUrl) => {
  const serve = await startServe({ IDBRIDGE_PUBLIC_URL: publicUrl });
  const admin = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${serve.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${serve.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    vars: { IDBRIDGE_ORIGIN: serve.url },
    publishCluster: (id, jwks) => admin('POST', '/api/v1/clusters', { id, jwks }),
    replaceKeys: (id, jwks) => admin('PUT', `/api/v1/clusters/${id}/keys`, { jwks }),
    close: serve.close,
  };
};

/** A bucket that a BucketWriter fills and the Worker reads through public object URLs under `gcsUrl`. */
export interface OpenBucket {
  writer: BucketWriter;
  gcsUrl: string;
  bucket: string;
  close(): Promise<void>;
}

/**
 * A GCS bucket in the layout of DESIGN.md as the origin: each cluster's documents at
 * `PREFIX/{cluster}/.well-known/openid-configuration` and `PREFIX/{cluster}/openid/v1/jwks`,
 * written as `idbridge sync --target gcs://…` writes them (the cluster's own documents).
 */
export function bucketOrigin(
  open: () => Promise<OpenBucket>,
  prefix = 'idbridge/issuers',
): OriginFactory {
  return async (publicUrl) => {
    const bucket = await open();
    const publish = async (id: string, jwks: { keys: PublicJwk[] }) => {
      const issuer = `${publicUrl}/${id}`;
      await bucket.writer.putObject(
        `${prefix}/${id}/.well-known/openid-configuration`,
        JSON.stringify(buildDiscovery(issuer, jwks.keys)),
        'application/json',
      );
      await bucket.writer.putObject(
        `${prefix}/${id}/openid/v1/jwks`,
        JSON.stringify(jwks),
        'application/jwk-set+json',
      );
    };
    return {
      vars: {
        IDBRIDGE_ORIGIN: `gcs://${bucket.bucket}/${prefix}`,
        IDBRIDGE_GCS_URL: bucket.gcsUrl,
      },
      publishCluster: publish,
      replaceKeys: publish,
      close: bucket.close,
    };
  };
}

/** The bucket layout served by a tiny static server (test/support/static-bucket.ts). */
export const staticBucketOrigin: OriginFactory = bucketOrigin(async () => {
  const bucket = await startStaticBucket();
  return { writer: bucket, gcsUrl: bucket.url, bucket: bucket.bucket, close: bucket.close };
});

/**
 * The production path: the registration API (`idbridge serve` on the GCS store, as the Cloud
 * Function runs it) writes the bucket through the GCS JSON API fake, and the Worker reads the
 * public documents from the fake's public object URLs.
 */
export const gcsStoreOrigin: OriginFactory = async (publicUrl) => {
  const gcs = await startGcsHarness();
  const bucket = await gcs.newBucket();
  const serve = await startServe({
    IDBRIDGE_PUBLIC_URL: publicUrl,
    IDBRIDGE_STORE: `gcs://${bucket}/issuers`,
    IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
  });
  const host = adminApiHost({
    url: serve.url,
    publicUrl,
    adminToken: serve.adminToken,
    close: serve.close,
  });
  return {
    vars: { IDBRIDGE_ORIGIN: `gcs://${bucket}/issuers`, IDBRIDGE_GCS_URL: gcs.gcs.url },
    publishCluster: host.publishCluster,
    replaceKeys: host.replaceKeys,
    close: async () => {
      await serve.close();
      await gcs.close();
    },
  };
};

/**
 * The Worker in workerd in front of an origin, as an IssuerHost for the contract suite. The
 * Worker listens on its public URL, so openid-client can check the issuer it discovers.
 * `freshSeconds` 0 revalidates with the origin (by ETag) on every request; otherwise a key
 * change shows once the fresh TTL has passed, and replaceKeys waits for it.
 */
export async function edgeIssuerHost(
  origin: OriginFactory,
  options: { freshSeconds?: number; vars?: Record<string, string> } = {},
): Promise<IssuerHost & { worker: EdgeWorkerHarness }> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const source = await origin(publicUrl);
  const worker = await startEdgeWorker(
    {
      IDBRIDGE_PUBLIC_URL: publicUrl,
      IDBRIDGE_EDGE_FRESH_SECONDS: String(options.freshSeconds ?? 0),
      IDBRIDGE_ORIGIN_TIMEOUT_MS: '2000',
      ...source.vars,
      ...options.vars,
    },
    { port },
  );
  return {
    url: worker.url,
    publicUrl,
    worker,
    publishCluster: source.publishCluster,
    async replaceKeys(id, jwks) {
      await source.replaceKeys(id, jwks);
      await waitForJwks(worker.url, id, jwks);
    },
    async close() {
      await worker.close();
      await source.close();
    },
  };
}

/** Polls the Worker until it serves `jwks` for `cluster` (at most ~10 s). */
export async function waitForJwks(
  url: string,
  cluster: string,
  jwks: { keys: PublicJwk[] },
): Promise<void> {
  const want = JSON.stringify(jwks);
  for (let attempt = 0; attempt < 100; attempt++) {
    const res = await fetch(`${url}/${cluster}/openid/v1/jwks`);
    if (res.ok && (await res.text()) === want) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the Worker did not serve the new keys of ${cluster} within 10 s`);
}
