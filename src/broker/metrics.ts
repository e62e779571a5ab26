import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome, UpstreamEndpoint } from './upstream.js';

/** How a broker call ended, for metrics and the audit line. */
export type Outcome =
  'ok' | 'refused' | 'rate_limited' | 'upstream_refused' | 'upstream_failed' | 'error';
export type CacheResult = 'hit' | 'miss' | 'coalesced';

/**
 * The broker's Prometheus metrics. Labels are small closed sets (endpoint, outcome, reason):
 * never a token, a subject or a cluster id, so the series count stays bounded.
 */
export class BrokerMetrics {
  readonly #requests: Counter<'endpoint' | 'outcome'>;
  readonly #duration: Histogram<'endpoint'>;
  readonly #refusals: Counter<'endpoint' | 'reason'>;
  readonly #cache: Counter<'endpoint' | 'result'>;
  readonly #rateLimited: Counter<'scope'>;
  readonly #upstream: Counter<'endpoint' | 'outcome'>;
  readonly #upstreamDuration: Histogram<'endpoint'>;

  constructor(registry: Registry, cacheState: () => { bytes: number; entries: number }) {
    const registers = [registry];
    this.#requests = new Counter({
      name: 'idbridge_broker_requests_total',
      help: 'Broker calls by endpoint and outcome',
      labelNames: ['endpoint', 'outcome'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'idbridge_broker_request_duration_seconds',
      help: 'Time to answer a broker call, upstream included',
      labelNames: ['endpoint'],
      registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.#refusals = new Counter({
      name: 'idbridge_broker_refusals_total',
      help: 'Calls refused by the broker itself, by reason',
      labelNames: ['endpoint', 'reason'],
      registers,
    });
    this.#cache = new Counter({
      name: 'idbridge_broker_cache_total',
      help: 'Answers served from the cache, shared with an identical call in flight, or fetched',
      labelNames: ['endpoint', 'result'],
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'idbridge_broker_rate_limited_total',
      help: 'Exchanges refused with 429 by a broker rate limit',
      labelNames: ['scope'],
      registers,
    });
    this.#upstream = new Counter({
      name: 'idbridge_broker_upstream_attempts_total',
      help: 'Calls to Google by endpoint and HTTP status (or timeout, refused, network)',
      labelNames: ['endpoint', 'outcome'],
      registers,
    });
    this.#upstreamDuration = new Histogram({
      name: 'idbridge_broker_upstream_duration_seconds',
      help: 'Duration of each call to Google',
      labelNames: ['endpoint'],
      registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    new Gauge({
      name: 'idbridge_broker_cache_bytes',
      help: 'Memory held by cached answers',
      registers,
      collect() {
        this.set(cacheState().bytes);
      },
    });
    new Gauge({
      name: 'idbridge_broker_cache_entries',
      help: 'Cached answers',
      registers,
      collect() {
        this.set(cacheState().entries);
      },
    });
  }

  answered(endpoint: UpstreamEndpoint, outcome: Outcome, seconds: number): void {
    this.#requests.inc({ endpoint, outcome });
    this.#duration.observe({ endpoint }, seconds);
  }

  refused(endpoint: UpstreamEndpoint, reason: string): void {
    this.#refusals.inc({ endpoint, reason });
  }

  cache(endpoint: UpstreamEndpoint, result: CacheResult): void {
    this.#cache.inc({ endpoint, result });
  }

  rateLimited(scope: 'cluster' | 'subject'): void {
    this.#rateLimited.inc({ scope });
  }

  upstreamAttempt(endpoint: UpstreamEndpoint, outcome: AttemptOutcome, seconds: number): void {
    this.#upstream.inc({ endpoint, outcome: String(outcome) });
    this.#upstreamDuration.observe({ endpoint }, seconds);
  }
}
