import type { JWTPayload } from 'jose';
import {
  parseProvider,
  type WorkloadIdentityProvider,
} from '../../src/credentials/credential-config.js';
import type { BrokerPolicy } from '../../src/registry/record.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { generateClusterKey, jwksOf, signKubeToken, type ClusterKey } from '../support/keys.js';
import { adminApi, brokerAuditLines, brokerCredentialConfigs } from '../support/broker-clients.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';
import { postStsExchange } from '../support/sts.js';

export const FLEET_PROVIDER =
  'projects/123456/locations/global/workloadIdentityPools/fleet/providers/idbridge-fleet';
export const FLEET_POOL_SET =
  'principalSet://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/fleet';
export const SERVICE_ACCOUNT = 'fleet-app@proj.iam.gserviceaccount.com';

/** The attribute mapping `gcp-setup --fleet` prints, as the fake Google applies it. */
export function fleetAttributes(assertion: JWTPayload): Record<string, string> {
  const text = (name: string) =>
    typeof assertion[name] === 'string' ? String(assertion[name]) : '';
  return {
    'google.subject': String(assertion.sub),
    'attribute.cluster': text('cluster'),
    'attribute.namespace': text('namespace'),
    'attribute.service_account': text('service_account'),
  };
}

export interface FleetStack {
  serve: ServeHarness;
  google: FakeGoogle;
  provider: WorkloadIdentityProvider;
  keys: Map<string, ClusterKey>;
  register(id: string, body?: { mode?: string; broker?: BrokerPolicy }): Promise<ClusterKey>;
  /** A projected token of `cluster` for the fleet provider. */
  token(
    cluster: string,
    namespace?: string,
    serviceAccount?: string,
    audience?: string,
  ): Promise<string>;
  credentialConfig(name: string, token: string, serviceAccountEmail?: string): Promise<string>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  exchange(subjectToken: string, audience?: string): Promise<Response>;
  auditLines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Fake Google (one fleet provider) ← idbridge serve in fleet mode ← clients, on loopback. The
 * issuers (the fleet's and the clusters') are under `IDBRIDGE_PUBLIC_URL` when `env` sets it (an
 * edge in front of serve), else under serve's own URL.
 */
export async function startFleetStack(env: Record<string, string> = {}): Promise<FleetStack> {
  const dir = await tempDir('idbridge-fleet-');
  const provider = parseProvider(FLEET_PROVIDER);
  const google = await startFakeGoogle();
  const serve = await startServe({
    IDBRIDGE_STS_URL: google.url,
    IDBRIDGE_IAMCREDENTIALS_URL: google.url,
    IDBRIDGE_FLEET_PROVIDER: FLEET_PROVIDER,
    ...env,
  });
  const publicUrl = env.IDBRIDGE_PUBLIC_URL ?? serve.url;
  google.providers.push({
    path: provider.path,
    issuerUri: `${publicUrl}/_fleet`,
    attributeMapping: fleetAttributes,
  });
  const keys = new Map<string, ClusterKey>();
  const admin = adminApi(serve);
  return {
    serve,
    google,
    provider,
    keys,
    async register(id, body = { mode: 'fleet' }) {
      const key = generateClusterKey('ES256');
      const res = await admin('POST', '/api/v1/clusters', { id, jwks: jwksOf(key), ...body });
      if (res.status !== 201) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
      keys.set(id, key);
      return key;
    },
    token: (cluster, namespace = 'apps', serviceAccount = 'web', audience = provider.audience) =>
      signKubeToken(keys.get(cluster)!, {
        issuer: `${publicUrl}/${cluster}`,
        audience,
        namespace,
        serviceAccount,
      }),
    credentialConfig: brokerCredentialConfigs(dir.path, serve, provider),
    admin,
    exchange: (subjectToken, audience = provider.audience) =>
      postStsExchange(serve.url, subjectToken, audience),
    auditLines: () => brokerAuditLines(serve),
    async close() {
      await serve.close();
      await google.close();
      await dir.remove();
    },
  };
}
