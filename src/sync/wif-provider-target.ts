import { keepsSigner } from '../api/sync-push.js';
import type { WorkloadIdentityProvider } from '../credentials/credential-config.js';
import {
  addPoolIamBindingCommand,
  POOL_ADMIN,
  PROVIDER_UPDATE_PERMISSIONS,
  updateProviderIssuerCommand,
} from '../gcp-setup/gcloud.js';
import { shellCommand } from '../gcp-setup/shell.js';
import { isIdbridgeError } from '../errors.js';
import { validateJwks, type PublicJwk } from '../oidc/jwks.js';
import type { CheckedDocuments } from './documents.js';
import { SyncFailure } from './failure.js';
import { withoutTokens } from '../credentials/application-default.js';
import {
  IamApiError,
  IamOperationTimeoutError,
  IamUnreachableError,
  type IamProviderClient,
} from './iam-providers.js';
import { planProviderKeys } from './provider-keys.js';
import type { PublishOutcome, SyncTarget } from './target.js';

export interface WifProviderTargetOptions {
  provider: WorkloadIdentityProvider;
  client: IamProviderClient;
  /**
   * The key id of the token the sync job itself presents to Google through this provider, read
   * again for every publish (kubelet rotates the token); absent when its credentials are not a
   * federated identity through this provider.
   */
  signerKid?: () => Promise<string | undefined>;
  /** Who the sync job is at Google, for the grant command in a permission error. */
  member?: string;
  /** Reads and writes when another writer changed the provider in between (409 ABORTED). Default 3. */
  conflictAttempts?: number;
}

/**
 * `idbridge sync --target wif-provider://projects/…/providers/PROV`: keeps the provider's
 * uploaded keys (`oidc.jwksJson`) equal to the cluster's JWKS, for clusters with no public
 * issuer. It reads the provider, writes only when the key set differs (compared canonically),
 * never drops the key that signs its own token (the push endpoint's lock-out rule), never adds
 * and removes in one write, and sends the provider's etag so a concurrent change is not lost.
 */
export class WifProviderTarget implements SyncTarget {
  readonly description: string;
  readonly #options: WifProviderTargetOptions;

  constructor(options: WifProviderTargetOptions) {
    this.#options = options;
    this.description = `wif-provider://${options.provider.path}`;
  }

  async publish(checked: CheckedDocuments): Promise<PublishOutcome> {
    const { provider, client } = this.#options;
    const attempts = this.#options.conflictAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const current = await this.#call('get', () => client.get(provider));
      this.#checkIssuer(current.oidc?.issuerUri, checked.issuer);
      const uploaded = await uploadedKeys(current.oidc?.jwksJson);
      const kid = await this.#options.signerKid?.();
      if (kid !== undefined) this.#checkNotLockedOut(kid, uploaded.keys, checked.jwks.keys);
      const plan = planProviderKeys(uploaded.keys, checked.jwks.keys);
      const warnings = [...uploaded.warnings, ...checked.jwks.warnings];
      if (!plan.write)
        return { changed: false, added: [], removed: [], warnings, keys: checked.jwks.keys };
      try {
        await this.#call('update', () =>
          client.putJwks(provider, JSON.stringify({ keys: plan.write }), current.etag),
        );
      } catch (err) {
        if (err instanceof SyncFailure && err.cause instanceof IamApiError) {
          const conflict = err.cause.status === 409 || err.cause.googleStatus === 'ABORTED';
          if (conflict && attempt < attempts) continue;
          if (conflict)
            throw new SyncFailure(
              'unavailable',
              `provider ${provider.path} was changed by another writer during each of ${attempts} read-and-write attempts (409 ABORTED); nothing more was written, the next attempt reads it again`,
              true,
              { cause: err },
            );
        }
        throw err;
      }
      if (plan.deferred.length > 0)
        warnings.push(
          `key${plan.deferred.length > 1 ? 's' : ''} ${plan.deferred.map((k) => JSON.stringify(k)).join(', ')} left the cluster's JWKS but stay on the provider until the next sync: a write never adds and removes keys at once, so the new key is in place before the old one goes`,
        );
      return {
        changed: true,
        added: plan.added,
        removed: plan.removed,
        warnings,
        keys: plan.write,
        ...(plan.deferred.length > 0 ? { pending: true } : {}),
      };
    }
  }

  /** Google compares a token's iss with the provider's issuer URI byte for byte, uploaded keys or not. */
  #checkIssuer(issuerUri: string | undefined, issuer: string): void {
    if (issuerUri === undefined || issuerUri === issuer) return;
    const { provider } = this.#options;
    throw new SyncFailure(
      'documents',
      `provider ${provider.path} has issuer URI ${JSON.stringify(issuerUri)} but the cluster's tokens carry iss ${JSON.stringify(issuer)}: Google would refuse every token whatever keys it holds, so nothing was written. ` +
        `Set the provider's issuer to the cluster's (${shellCommand(updateProviderIssuerCommand(provider, issuer))}), or point --target at the cluster's own provider`,
      false,
    );
  }

  /** The push endpoint's rule: refuse, before any write, a key set without the sync job's own signing key. */
  #checkNotLockedOut(kid: string, uploaded: PublicJwk[], desired: PublicJwk[]): void {
    const signer =
      uploaded.find((key) => key.kid === kid) ?? desired.find((key) => key.kid === kid);
    if (signer && keepsSigner({ keys: desired }, signer)) return;
    throw new SyncFailure(
      'documents',
      `the cluster's JWKS does not contain key ${JSON.stringify(kid)}, which signs the sync job's own token to Google: uploading it to provider ${this.#options.provider.path} would lock the sync job out (its next exchange, and every workload token signed by that key, would be refused); nothing was written. ` +
        "Keep the old key in the kube-apiserver's --service-account-key-file until it signs with the new one and kubelet has refreshed the projected tokens, then sync again",
      false,
    );
  }

  /** Runs one IAM API call, turning Google's refusals into sync failures with the fix. */
  async #call<T>(action: 'get' | 'update', call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw providerFailure(err, this.#options.provider, this.#options.member);
    }
  }
}

/** The provider's uploaded keys, canonical; a set idbridge would refuse is replaced, with a warning. */
async function uploadedKeys(
  jwksJson: string | undefined,
): Promise<{ keys: PublicJwk[]; warnings: string[] }> {
  if (jwksJson === undefined || jwksJson === '') return { keys: [], warnings: [] };
  try {
    return { keys: (await validateJwks(jwksJson)).keys, warnings: [] };
  } catch (err) {
    if (!isIdbridgeError(err)) throw err;
    return {
      keys: [],
      warnings: [
        `the provider's uploaded JWKS was not a valid key set (${err.message.slice(0, 300)}); it is replaced by the cluster's`,
      ],
    };
  }
}

/**
 * The sync failure of an IAM API error: permission errors name the role and the grant, a missing
 * provider names it, outages are retried, anything else passes Google's own message on.
 */
export function providerFailure(
  err: unknown,
  provider: WorkloadIdentityProvider,
  member = 'MEMBER',
): unknown {
  if (err instanceof IamUnreachableError)
    return new SyncFailure('unavailable', withoutTokens(err.message), true, { cause: err });
  if (err instanceof IamOperationTimeoutError)
    return new SyncFailure(
      'unavailable',
      `Google accepted the update of provider ${provider.path}, but its ${err.message}: the write may still land. Nothing else was written; the next attempt reads the provider back (idbridge doctor --wif-provider ${provider.path} shows what it holds)`,
      true,
      { cause: err },
    );
  if (!(err instanceof IamApiError)) return err;
  const said = `${err.status}${err.googleStatus ? ` ${err.googleStatus}` : ''}: ${withoutTokens(err.googleMessage)}${err.operation ? ` (operation ${err.operation} failed)` : ''}`;
  const verb = err.action === 'get' ? 'read' : 'update';
  if (err.status === 403 || err.googleStatus === 'PERMISSION_DENIED') {
    const grant = shellCommand(
      addPoolIamBindingCommand(provider.projectNumber, provider.pool, POOL_ADMIN, member),
    );
    return new SyncFailure(
      'refused',
      `Google refused to ${verb} provider ${provider.path} (${said}). The sync job's identity needs ${POOL_ADMIN} on pool ${provider.pool}, or a custom role with ${PROVIDER_UPDATE_PERMISSIONS.join(' and ')}; grant it with: ${grant}`,
      false,
      { cause: err },
    );
  }
  if (err.status === 404 || err.googleStatus === 'NOT_FOUND')
    return new SyncFailure(
      'refused',
      `provider ${provider.path} does not exist (${said}); check the project NUMBER, pool and provider ids in --target (gcloud iam workload-identity-pools providers describe ${provider.path}), or create it with the command idbridge gcp-setup --jwk-json-path prints`,
      false,
      { cause: err },
    );
  if (err.status === 401 || err.googleStatus === 'UNAUTHENTICATED')
    return new SyncFailure(
      'refused',
      `Google did not accept the sync job's credentials to ${verb} provider ${provider.path} (${said}); check GOOGLE_APPLICATION_CREDENTIALS`,
      false,
      { cause: err },
    );
  const retryable =
    err.status === 409 || err.status === 429 || err.status >= 500 || err.googleStatus === 'ABORTED';
  return new SyncFailure(
    retryable ? 'unavailable' : 'refused',
    `Google answered the ${verb} of provider ${provider.path} with ${said}`,
    retryable,
    { cause: err },
  );
}
