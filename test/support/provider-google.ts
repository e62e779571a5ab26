import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  externalAccountConfig,
  type WorkloadIdentityProvider,
} from '../../src/credentials/credential-config.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeIamAdmin, type FakeIamAdmin } from '../fakes/iam-admin.js';
import { SYNC_NAMESPACE, SYNC_SERVICE_ACCOUNT, type SyncWorld } from './sync.js';

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
