import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  externalAccountConfig,
  parseProvider,
  type WorkloadIdentityProvider,
} from '../../src/credentials/credential-config.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeIamAdmin, type FakeIamAdmin } from '../fakes/iam-admin.js';
import { startSyncWorld, SYNC_NAMESPACE, SYNC_SERVICE_ACCOUNT, type SyncWorld } from './sync.js';

/**
 * Google for a provider that holds its keys itself (`oidc.jwksJson`, no issuer fetched): the fake
 * STS verifies subject tokens with what the IAM fake's provider holds, and the sync job's
 * credential file is an external_account configuration through that same provider, its token
 * at `googleToken` (write it with refreshSyncGoogleToken).
 */
export interface ProviderGoogle {
  google: FakeGoogle;
  iam: FakeIamAdmin;
  googleToken: string;
  credentials: string;
  close(): Promise<void>;
}

export async function startProviderGoogle(
  world: SyncWorld,
  provider: WorkloadIdentityProvider,
  issuer: string,
): Promise<ProviderGoogle> {
  // STS reads the provider's keys from the IAM fake, which is made after (it asks Google who calls).
  const admin: { iam?: FakeIamAdmin } = {};
  const google = await startFakeGoogle({
    providers: [
      {
        path: provider.path,
        issuerUri: issuer,
        jwksJson: () => admin.iam?.providers.get(provider.path)?.oidc.jwksJson,
      },
    ],
  });
  const iam = await startFakeIamAdmin({ google });
  admin.iam = iam;
  const googleToken = join(world.dir, 'google-token');
  const credentials = join(world.dir, 'google-credentials.json');
  await writeFile(
    credentials,
    JSON.stringify(
      externalAccountConfig({
        provider,
        tokenPath: googleToken,
        stsUrl: google.url,
        format: 'text',
      }),
    ),
  );
  return {
    google,
    iam,
    googleToken,
    credentials,
    close: async () => {
      await iam.close();
      await google.close();
    },
  };
}

/** What kubelet does for the sync pod's Google token: a fresh one, signed by the cluster's current key. */
export async function refreshSyncGoogleToken(
  world: SyncWorld,
  provider: WorkloadIdentityProvider,
  googleToken: string,
): Promise<void> {
  await writeFile(
    googleToken,
    await world.kube.issueToken({
      namespace: SYNC_NAMESPACE,
      serviceAccount: SYNC_SERVICE_ACCOUNT,
      audience: provider.audience,
    }),
  );
}

/** The kids the provider's uploaded JWKS holds now. */
export function uploadedKids(iam: FakeIamAdmin, provider: WorkloadIdentityProvider): string[] {
  return (
    JSON.parse(iam.providers.get(provider.path)!.oidc.jwksJson ?? '{"keys":[]}') as {
      keys: Array<{ kid: string }>;
    }
  ).keys.map((k) => k.kid);
}

const PRIVATE_POOL = 'projects/123456/locations/global/workloadIdentityPools/fleet';
const PRIVATE_PROVIDER = parseProvider(`${PRIVATE_POOL}/providers/private-c1`);

/**
 * Cluster private-c1's provider (pool fleet), which holds the keys the sync writes: the sync
 * job's principal in that pool, and the `--target` that names the provider.
 */
export const PRIVATE_C1 = {
  provider: PRIVATE_PROVIDER,
  pool: PRIVATE_POOL,
  syncPrincipal: `principal://iam.googleapis.com/${PRIVATE_POOL}/subject/system:serviceaccount:${SYNC_NAMESPACE}:${SYNC_SERVICE_ACCOUNT}`,
  target: `wif-provider://${PRIVATE_PROVIDER.path}`,
};

export interface PrivateC1Sync extends ProviderGoogle {
  world: SyncWorld;
  /** refreshSyncGoogleToken for PRIVATE_C1's provider. */
  refreshGoogleToken(): Promise<void>;
  /** The kids PRIVATE_C1's provider holds now. */
  uploadedKids(): string[];
}

/**
 * A sync world for cluster private-c1 (memory store) and Google for PRIVATE_C1's provider, whose
 * issuer is the kube-apiserver's: `issuer` when given (the tokens re-issued under it), else the
 * world's own. close() closes both.
 */
export async function startPrivateC1Sync(issuer?: string): Promise<PrivateC1Sync> {
  const { provider } = PRIVATE_C1;
  const world = await startSyncWorld('memory', 'private-c1');
  let googleSide: ProviderGoogle;
  try {
    if (issuer !== undefined) {
      world.kube.issuer = issuer;
      await world.refreshTokens();
    }
    googleSide = await startProviderGoogle(world, provider, issuer ?? world.issuer);
  } catch (err) {
    await world.close();
    throw err;
  }
  return {
    ...googleSide,
    world,
    refreshGoogleToken: () => refreshSyncGoogleToken(world, provider, googleSide.googleToken),
    uploadedKids: () => uploadedKids(googleSide.iam, provider),
    close: async () => {
      await googleSide.close();
      await world.close();
    },
  };
}
