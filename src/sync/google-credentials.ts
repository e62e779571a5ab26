import { readFile } from 'node:fs/promises';
import { decodeProtectedHeader } from 'jose';
import { z } from 'zod';
import { AdcError, applicationDefaultTokens } from '../credentials/application-default.js';
import { SyncFailure } from './failure.js';

/** What the IAM API calls need. */
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

/** Google credentials as sync uses them: access tokens, and what is known of a federated identity. */
export interface GoogleCredentials {
  accessToken(): Promise<string>;
  /**
   * Set when the credentials are an `external_account` configuration whose subject token is a
   * file (what `idbridge cred-config` and the webhook write): the audience it is exchanged under
   * and the projected token it presents, whose key must stay trusted.
   */
  federated?: { audience: string; tokenFile: string };
}

/** The parts of an `external_account` configuration sync reads (Google's format; the rest is the library's). */
const externalAccountSchema = z.looseObject({
  type: z.literal('external_account'),
  audience: z.string(),
  credential_source: z.looseObject({ file: z.string().min(1) }).optional(),
});

/**
 * Application Default Credentials (src/credentials/application-default.ts): the file named by
 * GOOGLE_APPLICATION_CREDENTIALS when set (passed in, not read from the process here), else the
 * library's own search (gcloud's application default login, the metadata server).
 */
export async function applicationDefaultCredentials(
  credentialsFile: string | undefined,
): Promise<GoogleCredentials> {
  let federated: GoogleCredentials['federated'];
  if (credentialsFile !== undefined) {
    let text: string;
    try {
      text = await readFile(credentialsFile, 'utf8');
    } catch (err) {
      throw new SyncFailure(
        'config',
        `cannot read GOOGLE_APPLICATION_CREDENTIALS ${credentialsFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}): mount the credential configuration there (idbridge cred-config writes one)`,
        false,
        { cause: err },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SyncFailure(
        'config',
        `GOOGLE_APPLICATION_CREDENTIALS ${credentialsFile} is not JSON: point it at a credential configuration (idbridge cred-config) or a service account key file`,
        false,
      );
    }
    const external = externalAccountSchema.safeParse(json);
    if (external.success && external.data.credential_source)
      federated = {
        audience: external.data.audience,
        tokenFile: external.data.credential_source.file,
      };
  }
  const tokens = applicationDefaultTokens({
    scopes: SCOPES,
    ...(credentialsFile !== undefined ? { keyFilename: credentialsFile } : {}),
  });
  return {
    ...(federated ? { federated } : {}),
    accessToken: async () => {
      try {
        return await tokens();
      } catch (err) {
        throw credentialFailure(err);
      }
    },
  };
}

/** The key id in the header of the projected token a federated credential presents; undefined if unknown. */
export async function subjectTokenKid(tokenFile: string): Promise<string | undefined> {
  try {
    const kid = decodeProtectedHeader((await readFile(tokenFile, 'utf8')).trim()).kid;
    return typeof kid === 'string' && kid !== '' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/** Sync's exit code and words for each way Application Default Credentials fail. */
function credentialFailure(err: unknown): SyncFailure {
  if (!(err instanceof AdcError))
    return new SyncFailure('unavailable', 'cannot get an access token', true, { cause: err });
  const { message } = err;
  if (err.kind === 'no-credentials')
    return new SyncFailure(
      'config',
      `no Application Default Credentials (${message}): set GOOGLE_APPLICATION_CREDENTIALS to a credential configuration (idbridge cred-config PROVIDER --credential-source-file=TOKEN_PATH writes one for the sync job's own federated identity)`,
      false,
      { cause: err },
    );
  if (err.kind === 'refused')
    return new SyncFailure(
      'refused',
      err.status === undefined
        ? message
        : `Google refused Application Default Credentials (${err.status}): ${message}`,
      false,
      { cause: err },
    );
  return new SyncFailure(
    'unavailable',
    `cannot get an access token with Application Default Credentials: ${message}`,
    true,
    { cause: err },
  );
}
