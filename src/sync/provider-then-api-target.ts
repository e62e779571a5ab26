import type { CheckedDocuments, ServedDocuments } from './documents.js';
import type { PublishOutcome, SyncTarget } from './target.js';

/**
 * `idbridge sync --target wif-provider://… --api URL`, for a `jwks-upload` cluster whose
 * workloads also go through the broker: each publish writes the provider first (the
 * WifProviderTarget, its operation waited for) and, only once the provider holds the keys
 * (written, or nothing to write), pushes the key set the provider now holds to the registration
 * API (the ApiTarget, self-authenticated, with `provider` in the body). The broker's keys on
 * record and the API's `lastKeyWrite` so follow the provider; a failed provider write throws
 * before anything is pushed, and a failed push keeps the API target's own failure (its message
 * and exit code). A retry runs both steps again: the provider is read back, so a write that
 * landed is not repeated, and the push is idempotent.
 */
export class ProviderThenApiTarget implements SyncTarget {
  readonly description: string;
  readonly #provider: SyncTarget;
  readonly #api: SyncTarget;

  constructor(provider: SyncTarget, api: SyncTarget) {
    this.#provider = provider;
    this.#api = api;
    this.description = `${provider.description}, then ${api.description}`;
  }

  async publish(checked: CheckedDocuments, served: ServedDocuments): Promise<PublishOutcome> {
    const written = await this.#provider.publish(checked, served);
    // What the provider holds: the cluster's keys, plus old keys a write kept for one more cycle.
    const keys = written.keys ?? checked.jwks.keys;
    const pushed = await this.#api.publish(checked, { ...served, jwks: { keys } });
    // The provider's change, or the API's when it catches up with a provider written before.
    const change = written.changed ? written : pushed;
    return {
      changed: written.changed || pushed.changed,
      added: change.added,
      removed: change.removed,
      warnings: [...new Set([...written.warnings, ...pushed.warnings])],
      keys,
      ...(pushed.version !== undefined ? { version: pushed.version } : {}),
      ...(written.pending ? { pending: true } : {}),
    };
  }
}
