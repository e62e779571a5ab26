import type { FleetSettings } from '../config/config.js';
import { AdcError, applicationDefaultTokens } from '../credentials/application-default.js';
import { IdbridgeError } from '../errors.js';
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
      accessToken: context.kmsAccessToken ?? applicationDefaultToken(settings.credentialsFile),
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

/** What a Cloud KMS signing call needs (`cloud-platform` works too; this is the narrower one). */
const KMS_SCOPE = 'https://www.googleapis.com/auth/cloudkms';

/**
 * The broker's own token for Cloud KMS: Application Default Credentials, the file
 * GOOGLE_APPLICATION_CREDENTIALS names (a service account key or an `external_account`
 * configuration) when set, else gcloud's application default login, then the metadata server of
 * Cloud Functions, Cloud Run, GCE or GKE. The file is handed to the library as its key file, as
 * sync does: the library then reads that file alone and looks no project up.
 */
function applicationDefaultToken(credentialsFile: string | undefined): () => Promise<string> {
  const tokens = applicationDefaultTokens({
    scopes: [KMS_SCOPE],
    ...(credentialsFile !== undefined ? { keyFilename: credentialsFile } : {}),
  });
  return async () => {
    try {
      return await tokens();
    } catch (err) {
      throw kmsCredentialError(err);
    }
  };
}

/** A failure to get the broker's KMS token, as a refusal that names the fix and holds no token. */
function kmsCredentialError(err: unknown): IdbridgeError {
  const failure =
    err instanceof AdcError
      ? err
      : new AdcError('unavailable', (err as Error).name ?? 'error', undefined, { cause: err });
  const message = failure.message.slice(0, 300);
  if (failure.kind === 'no-credentials')
    return new IdbridgeError(
      'misconfigured',
      `the fleet signer has no Application Default Credentials for Cloud KMS (${message}); set GOOGLE_APPLICATION_CREDENTIALS to a service account key or an external_account credential configuration, or run the broker where the metadata server gives its service account's token (Cloud Functions, Cloud Run, GCE, GKE)`,
      [],
      { cause: err },
    );
  if (failure.kind === 'refused')
    return new IdbridgeError(
      'misconfigured',
      `Google refused the broker's Application Default Credentials for Cloud KMS${failure.status === undefined ? '' : ` (${failure.status})`}: ${message}; check the credential configuration GOOGLE_APPLICATION_CREDENTIALS names (its audience, token_url, subject token and service account impersonation) or the service account of the metadata server`,
      [],
      { cause: err },
    );
  return new IdbridgeError(
    'unavailable',
    `cannot get the broker's access token for Cloud KMS with Application Default Credentials: ${message}; check that the token endpoint (or the metadata server) can be reached`,
    [],
    { cause: err, retryAfter: 1 },
  );
}
