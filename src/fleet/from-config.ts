import type { FleetSettings } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { ClusterStore } from '../registry/store.js';
import { FLEET_TOKEN_LIFETIME_SECONDS } from './claims.js';
import { KmsFleetSigner } from './kms-signer.js';
import { LocalFleetKeys } from './local-keys.js';
import type { FleetSigner } from './signer.js';

/** A key that stopped signing stays published this much longer than a minted token lives. */
const RETAIN_MARGIN_SECONDS = 300;

/** The fleet signer IDBRIDGE_FLEET_SIGNER names. */
export function fleetSignerFromConfig(
  settings: FleetSettings,
  context: {
    store: ClusterStore;
    issuer: string;
    logger: Logger;
    now?: () => number;
    /** Access tokens for Cloud KMS; Application Default Credentials by default. */
    kmsAccessToken?: () => Promise<string>;
  },
): FleetSigner {
  if (settings.signer.kind === 'kms')
    return new KmsFleetSigner({
      keyVersion: settings.signer.keyVersion,
      alsoPublish: settings.signer.alsoPublish,
      kmsUrl: settings.kmsUrl,
      issuer: context.issuer,
      accessToken: context.kmsAccessToken ?? applicationDefaultToken(),
    });
  return new LocalFleetKeys({
    store: context.store,
    issuer: context.issuer,
    logger: context.logger,
    rotation: {
      rotationSeconds: settings.rotationSeconds,
      leadSeconds: settings.leadSeconds,
      retainSeconds: FLEET_TOKEN_LIFETIME_SECONDS + RETAIN_MARGIN_SECONDS,
    },
    ...(context.now ? { now: context.now } : {}),
  });
}

/**
 * The service account's token from the metadata server, where a broker that signs with KMS runs
 * (Cloud Functions, Cloud Run, GCE, GKE).
 */
function applicationDefaultToken(): () => Promise<string> {
  let cached: { token: string; until: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.until) return cached.token;
    const res = await fetch(
      `http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token?scopes=https://www.googleapis.com/auth/cloudkms`,
      { headers: { 'metadata-flavor': 'Google' }, signal: AbortSignal.timeout(5000) },
    );
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
    };
    if (!res.ok || typeof body.access_token !== 'string')
      throw new Error(`the metadata server gave no access token for Cloud KMS (${res.status})`);
    const seconds = typeof body.expires_in === 'number' ? body.expires_in : 300;
    cached = { token: body.access_token, until: Date.now() + Math.max(0, seconds - 60) * 1000 };
    return cached.token;
  };
}
