import { readFile } from 'node:fs/promises';
import { decodeJwt } from 'jose';
import {
  parseProvider,
  stripProviderPrefix,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import { principalMember } from '../gcp-setup/gcloud.js';
import { applicationDefaultCredentials, subjectTokenKid } from './google-credentials.js';
import { IamProviderClient } from './iam-providers.js';
import { WifProviderTarget } from './wif-provider-target.js';

/**
 * The wif-provider target with its production parts: Application Default Credentials and the IAM
 * API at `iamUrl`. When the credentials are the sync job's own federated identity through this
 * same provider, the key signing its token is protected from removal.
 */
export async function wifProviderTarget(
  provider: WorkloadIdentityProvider,
  options: { iamUrl: string; credentialsFile: string | undefined; fetch?: typeof fetch },
): Promise<WifProviderTarget> {
  const credentials = await applicationDefaultCredentials(options.credentialsFile);
  const federated = credentials.federated;
  const throughThis =
    federated !== undefined && stripProviderPrefix(federated.audience) === provider.path;
  const member = federated ? await federatedMember(federated) : undefined;
  return new WifProviderTarget({
    provider,
    client: new IamProviderClient({
      iamUrl: options.iamUrl,
      accessToken: () => credentials.accessToken(),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    }),
    ...(throughThis ? { signerKid: () => subjectTokenKid(federated.tokenFile) } : {}),
    ...(member ? { member } : {}),
  });
}

/** `principal://…/subject/SUB` of a federated credential, for the grant command of a permission error. */
async function federatedMember(federated: {
  audience: string;
  tokenFile: string;
}): Promise<string | undefined> {
  try {
    const via = parseProvider(federated.audience);
    const sub = decodeJwt((await readFile(federated.tokenFile, 'utf8')).trim()).sub;
    return sub ? principalMember(via.projectNumber, via.pool, sub) : undefined;
  } catch {
    return undefined;
  }
}
