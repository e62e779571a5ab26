import {
  parseProvider,
  type WorkloadIdentityProvider,
} from '../../src/credentials/credential-config.js';
import type { BrokerPolicy } from '../../src/registry/record.js';
import { principalFor, startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import {
  generateClusterKey,
  jwksOf,
  signKubeToken,
  type ClusterKey,
  type KubeTokenOptions,
} from '../support/keys.js';
import { adminApi, brokerAuditLines, brokerCredentialConfigs } from '../support/broker-clients.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';
import { stsExchangeForm } from '../support/sts.js';

export const SERVICE_ACCOUNT = 'app@proj.iam.gserviceaccount.com';
export const WORKLOAD_SUBJECT = 'system:serviceaccount:apps:web';

export interface BrokerStack {
  /** idbridge serve: issuer, registration API and broker, with its log lines. */
  serve: ServeHarness;
  /** The fake Google the broker forwards to, which fetches the issuer documents from `serve`. */
  google: FakeGoogle;
  provider: WorkloadIdentityProvider;
  key: ClusterKey;
  dir: string;
  issuerOf(cluster: string): string;
  /** A projected token of cluster c1 for the provider (overrides for hostile variants). */
  token(options?: Partial<KubeTokenOptions>, key?: ClusterKey): Promise<string>;
  /** A credential configuration (and its token file) pointing at the broker, as a pod has. */
  credentialConfig(name: string, token: string, serviceAccountEmail?: string): Promise<string>;
  registerCluster(id: string, keys: ClusterKey[], broker?: BrokerPolicy): Promise<void>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** POST a form to the broker's /v1/token. */
  exchange(fields: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
  tokenForm(subjectToken: string, extra?: Record<string, string>): Record<string, string>;
  /** The broker's audit lines (`broker exchange`) logged so far, parsed. */
  auditLines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Fake Google ← idbridge serve (broker + issuer) ← clients, all on loopback; cluster c1 registered. */
export async function startBrokerStack(
  options: { env?: Record<string, string>; delayMs?: number; policy?: BrokerPolicy } = {},
): Promise<BrokerStack> {
  const dir = await tempDir('idbridge-broker-');
  const provider = parseProvider(
    'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
  );
  const google = await startFakeGoogle({
    ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
  });
  const serve = await startServe({
    IDBRIDGE_STS_URL: google.url,
    IDBRIDGE_IAMCREDENTIALS_URL: google.url,
    ...options.env,
  });
  const key = generateClusterKey('RS256');
  const issuerOf = (cluster: string) => `${serve.url}/${cluster}`;
  const fakeProvider = { path: provider.path, issuerUri: issuerOf('c1') };
  google.providers.push(fakeProvider);
  google.serviceAccounts.push({
    email: SERVICE_ACCOUNT,
    workloadIdentityUsers: [principalFor(fakeProvider, WORKLOAD_SUBJECT)],
  });

  const admin = adminApi(serve);
  const registerCluster = async (id: string, keys: ClusterKey[], broker?: BrokerPolicy) => {
    const res = await admin('POST', '/api/v1/clusters', {
      id,
      jwks: jwksOf(...keys),
      ...(broker ? { broker } : {}),
    });
    if (res.status !== 201) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
  };
  await registerCluster('c1', [key], options.policy);

  return {
    serve,
    google,
    provider,
    key,
    dir: dir.path,
    issuerOf,
    token: (o = {}, signer = key) =>
      signKubeToken(signer, {
        issuer: issuerOf('c1'),
        audience: provider.audience,
        namespace: 'apps',
        serviceAccount: 'web',
        ...o,
      }),
    credentialConfig: brokerCredentialConfigs(dir.path, serve, provider),
    registerCluster,
    admin,
    exchange: (fields, headers = {}) =>
      fetch(`${serve.url}/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(fields).toString(),
      }),
    auditLines: () => brokerAuditLines(serve),
    tokenForm: (subjectToken, extra = {}) =>
      stsExchangeForm(subjectToken, provider.audience, extra),
    async close() {
      await serve.close();
      await google.close();
      await dir.remove();
    },
  };
}
