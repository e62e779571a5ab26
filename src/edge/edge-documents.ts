import { IdbridgeError } from '../errors.js';
import type { DocumentSource } from '../issuer/document-source.js';
import { publishCluster, type ClusterDocuments } from '../oidc/published.js';
import type { Logger } from '../log/logger.js';
import { FLEET_SEGMENT } from '../fleet/paths.js';
import { isClusterId } from '../registry/cluster-id.js';
import {
  applyOutcome,
  isDue,
  verdict,
  type ClusterState,
  type OriginCopy,
  type Verdict,
} from './cluster-state.js';
import type { FreshnessPolicy } from './config.js';
import { evaluateOrigin } from './origin-copy.js';
import { fetchOriginDocuments, type Fetcher } from './origin-fetch.js';
import type { Origin } from './origin.js';
import type { SharedStates } from './shared-state.js';

export interface EdgeDocumentsOptions {
  origin: Origin;
  /** The Worker's own public URL: cluster `c` is served with issuer `{publicUrl}/c`. */
  publicUrl: string;
  policy: FreshnessPolicy;
  fetch: Fetcher;
  /** States shared with the other isolates of this location (the Cache API); optional. */
  shared?: SharedStates;
  logger: Logger;
  now?: () => number;
  /** Bound on clusters kept in this isolate's memory; the least recently loaded go first. */
  maxEntries?: number;
}

interface Entry {
  state: ClusterState;
  /** Published from state.copy (serialized once per copy); null without a copy. */
  docs: ClusterDocuments | null;
}

/** A cluster as the status page shows it. */
export interface ClusterView {
  cluster: string;
  issuer: string;
  state: ClusterState;
  verdict: Verdict;
  docs: ClusterDocuments | null;
}

/**
 * The Worker's document source: the origin's documents, validated, republished under the
 * Worker's own URL, kept in this isolate's memory and in the location's Cache API, revalidated
 * with the origin by ETag once they are older than the fresh TTL, and served from the last good
 * copy (up to the stale limit) while the origin fails or sends something invalid.
 */
export class EdgeDocuments implements DocumentSource {
  readonly #options: EdgeDocumentsOptions;
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  /** One origin check per cluster at a time in this isolate, however many requests wait. */
  readonly #inflight = new Map<string, Promise<Entry>>();

  constructor(options: EdgeDocumentsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  get publicUrl(): string {
    return this.#options.publicUrl;
  }

  get policy(): FreshnessPolicy {
    return this.#options.policy;
  }

  async documents(cluster: string): Promise<ClusterDocuments | null> {
    if (!isServedSegment(cluster)) return null;
    let entry = this.#entries.get(cluster);
    if (!entry || isDue(entry.state, this.#now(), this.#options.policy))
      entry = await this.#refresh(cluster, entry);
    const decided = verdict(entry.state, this.#now(), this.#options.policy);
    if (decided.kind === 'serve') return entry.docs;
    if (decided.kind === 'not-found') return null;
    throw new IdbridgeError(
      'bad_gateway',
      `the edge cannot reach a good copy of cluster ${JSON.stringify(cluster)}: ${decided.reason}; it is served again as soon as its origin answers correctly`,
    );
  }

  /**
   * The documents if this isolate may serve them right now without any I/O (a fresh, confirmed
   * copy in memory); undefined when the caller must go through `documents()`.
   */
  peek(cluster: string): ClusterDocuments | undefined {
    const entry = this.#entries.get(cluster);
    if (!entry?.docs || entry.state.fault || isDue(entry.state, this.#now(), this.#options.policy))
      return undefined;
    return entry.docs;
  }

  /**
   * The cluster's state after the same refresh a request would do (or, with `refresh: false`,
   * as this isolate holds it, without any I/O); null for invalid ids and clusters not held.
   */
  async view(cluster: string, options: { refresh?: boolean } = {}): Promise<ClusterView | null> {
    if (!isServedSegment(cluster)) return null;
    if (options.refresh !== false) await this.documents(cluster).catch(() => null);
    const entry = this.#entries.get(cluster);
    if (!entry) return null;
    return {
      cluster,
      issuer: this.#issuer(cluster),
      state: entry.state,
      verdict: verdict(entry.state, this.#now(), this.#options.policy),
      docs: entry.docs,
    };
  }

  /** Clusters this isolate holds a copy of (not ids that were merely asked for), in id order. */
  knownClusters(): string[] {
    return [...this.#entries.values()]
      .filter((entry) => entry.state.copy)
      .map((entry) => entry.state.cluster)
      .sort();
  }

  #issuer(cluster: string): string {
    return `${this.#options.publicUrl}/${cluster}`;
  }

  #refresh(cluster: string, current: Entry | undefined): Promise<Entry> {
    const pending = this.#inflight.get(cluster);
    if (pending) return pending;
    const refreshing = this.#check(cluster, current).finally(() => this.#inflight.delete(cluster));
    this.#inflight.set(cluster, refreshing);
    return refreshing;
  }

  async #check(cluster: string, current: Entry | undefined): Promise<Entry> {
    const { shared, policy, logger } = this.#options;
    let state = current?.state;
    // Another isolate of this location may have asked the origin more recently.
    const sharedState = await shared?.get(cluster).catch((err: unknown) => {
      logger.warn('edge cache read failed', { cluster, error: (err as Error).name });
      return undefined;
    });
    if (sharedState && (!state || sharedState.checkedAt > state.checkedAt)) state = sharedState;
    if (state && state !== current?.state && !isDue(state, this.#now(), policy))
      return this.#remember(state, current);

    const fetched = await fetchOriginDocuments(
      this.#options.fetch,
      this.#options.origin,
      cluster,
      state?.copy?.etags,
      policy.originTimeoutMs,
    );
    const outcome = await evaluateOrigin(
      fetched,
      state?.copy ?? null,
      [this.#issuer(cluster), `${this.#options.origin.base}/${cluster}`],
      this.#now(),
    );
    const next = applyOutcome(state, cluster, outcome, this.#now());
    if (next.fault) {
      const decided = verdict(next, this.#now(), policy);
      logger.warn('origin check failed', {
        cluster,
        reason: next.fault.reason,
        answering: decided.kind === 'serve' ? 'last good copy' : decided.kind,
      });
    } else if (state?.fault) {
      logger.info('origin recovered', { cluster });
    }
    // Kept as long as it may be served stale; an absent cluster only for the fresh TTL.
    const ttl = (next.copy ? policy.maxStaleMs : policy.freshMs) / 1000;
    await shared
      ?.put(next, ttl)
      .catch((err: unknown) =>
        logger.warn('edge cache write failed', { cluster, error: (err as Error).name }),
      );
    return this.#remember(next, current);
  }

  async #remember(state: ClusterState, current: Entry | undefined): Promise<Entry> {
    const docs = await this.#publish(state, current);
    const entry = { state, docs };
    this.#entries.delete(state.cluster);
    this.#entries.set(state.cluster, entry);
    while (this.#entries.size > this.#maxEntries)
      this.#entries.delete(this.#entries.keys().next().value as string);
    return entry;
  }

  /** Serializes a copy once; a state that keeps the same keys keeps the same documents. */
  async #publish(
    state: ClusterState,
    current: Entry | undefined,
  ): Promise<ClusterDocuments | null> {
    if (!state.copy) return null;
    if (current?.docs && current.state.copy && sameKeys(current.state.copy, state.copy))
      return current.docs;
    return publishCluster(state.cluster, this.#issuer(state.cluster), state.copy.keys);
  }
}

/**
 * What the edge copies from its origin: every cluster id, and the fleet issuer (`_fleet`, never a
 * cluster id), whose two documents the origin publishes at the same relative paths.
 */
export function isServedSegment(segment: string): boolean {
  return isClusterId(segment) || segment === FLEET_SEGMENT;
}

function sameKeys(a: OriginCopy, b: OriginCopy): boolean {
  return a === b || JSON.stringify(a.keys) === JSON.stringify(b.keys);
}
