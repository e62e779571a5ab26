import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSyncCommand, type SyncFlags } from '../../src/sync/command.js';
import { startFakeKubeApiserver, type FakeKubeApiserver } from '../fakes/kube-apiserver.js';
import { apiClient, type ApiClient } from '../contract/admin-api-contract.js';
import { startGcsHarness, type GcsHarness } from './gcs.js';
import { startServe, tempDir, type ServeHarness } from './serve.js';

export const SYNC_NAMESPACE = 'idbridge-sync';
export const SYNC_SERVICE_ACCOUNT = 'idbridge-sync';

export type StoreKind = 'memory' | 'file' | 'gcs';

/**
 * One private cluster and one idbridge: `idbridge serve` on a store, a fake kube-apiserver whose
 * issuer is the cluster's idbridge issuer, and the files a sync pod would have (kubeconfig, the
 * projected token for the API), re-issued on demand as kubelet does.
 */
export interface SyncWorld {
  serve: ServeHarness;
  api: ApiClient;
  kube: FakeKubeApiserver;
  cluster: string;
  issuer: string;
  dir: string;
  gcs?: GcsHarness & { bucket: string };
  tokenFile: string;
  kubeconfig: string;
  /** Registers the cluster with the apiserver's current JWKS, as docs/sync.md's setup does. */
  register(): Promise<void>;
  /** What kubelet does: fresh tokens signed with the apiserver's current signing key. */
  refreshTokens(): Promise<void>;
  /** The sync job's projected token for the API, with overrides for hostile variants. */
  pushToken(overrides?: {
    serviceAccount?: string;
    audience?: string | string[];
    lifetime?: number;
    issuedAt?: number;
  }): Promise<string>;
  /** `idbridge sync --once` (in this process) with the pod's files; extra flags override. */
  sync(
    flags?: Partial<SyncFlags>,
    env?: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The JWKS the issuer routes serve for the cluster now. */
  published(): Promise<unknown>;
  close(): Promise<void>;
}

export async function startSyncWorld(
  store: StoreKind = 'memory',
  cluster = 'prod',
): Promise<SyncWorld> {
  const tmp = await tempDir('idbridge-sync-');
  let gcs: (GcsHarness & { bucket: string }) | undefined;
  let storeEnv: Record<string, string>;
  if (store === 'gcs') {
    const harness = await startGcsHarness();
    gcs = Object.assign(harness, { bucket: await harness.newBucket() });
    storeEnv = {
      IDBRIDGE_STORE: `gcs://${gcs.bucket}/issuers`,
      IDBRIDGE_GCS_ENDPOINT: gcs.gcs.url,
    };
  } else {
    storeEnv = { IDBRIDGE_STORE: store === 'file' ? `file:${join(tmp.path, 'data')}` : 'memory:' };
  }
  const serve = await startServe(storeEnv);
  const issuer = `${serve.url}/${cluster}`;
  // This serve is plain HTTP; a real apiserver would 404 its issuer (see the fake's own tests).
  const kube = await startFakeKubeApiserver({ issuer, allowHttpIssuer: true });
  const tokenFile = join(tmp.path, 'token');
  let kubeconfig = '';

  const pushToken: SyncWorld['pushToken'] = (overrides = {}) =>
    kube.issueToken({
      namespace: SYNC_NAMESPACE,
      serviceAccount: overrides.serviceAccount ?? SYNC_SERVICE_ACCOUNT,
      // IDBRIDGE_SYNC_AUDIENCE defaults to the public URL.
      audience: overrides.audience ?? serve.url,
      ...(overrides.lifetime !== undefined ? { lifetime: overrides.lifetime } : {}),
      ...(overrides.issuedAt !== undefined ? { issuedAt: overrides.issuedAt } : {}),
    });

  const world: SyncWorld = {
    serve,
    api: apiClient({
      url: serve.url,
      publicUrl: serve.url,
      adminToken: serve.adminToken,
      close: async () => {},
    }),
    kube,
    cluster,
    issuer,
    dir: tmp.path,
    ...(gcs ? { gcs } : {}),
    tokenFile,
    get kubeconfig() {
      return kubeconfig;
    },
    register: async () => {
      const jwks = { keys: kube.keys.map((k) => k.jwk) };
      const res = await world.api.call('POST', '/api/v1/clusters', { id: cluster, jwks });
      if (res.status !== 201)
        throw new Error(`register: ${res.status} ${JSON.stringify(res.json)}`);
    },
    refreshTokens: async () => {
      const apiToken = await kube.issueToken({
        namespace: SYNC_NAMESPACE,
        serviceAccount: SYNC_SERVICE_ACCOUNT,
        audience: kube.apiAudience,
      });
      kubeconfig = await kube.writeKubeconfig(tmp.path, apiToken);
      await writeFile(tokenFile, await pushToken(), { mode: 0o600 });
    },
    pushToken,
    sync: async (flags = {}, env = {}) => {
      let stdout = '';
      let stderr = '';
      const code = await runSyncCommand(
        env,
        { api: serve.url, cluster, tokenFile, kubeconfig, once: true, backoff: '10ms', ...flags },
        {
          stdout: (chunk) => {
            stdout += chunk;
          },
          stderr: (line) => {
            stderr += `${line}\n`;
          },
        },
      );
      return { code, stdout, stderr };
    },
    published: async () => {
      const res = await fetch(`${serve.url}/${cluster}/openid/v1/jwks`);
      return res.status === 200 ? res.json() : { status: res.status };
    },
    close: async () => {
      await serve.close();
      await kube.close();
      await gcs?.close();
      await tmp.remove();
    },
  };
  await world.refreshTokens();
  return world;
}
