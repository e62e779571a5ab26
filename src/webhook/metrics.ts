import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export type AdmissionOutcome =
  'mutated' | 'unchanged' | 'skipped' | 'missing_service_account' | 'denied' | 'error';

/** The webhook's Prometheus metrics, in a registry of its own (several servers may share a process in tests). */
export class WebhookMetrics {
  readonly registry = new Registry();
  readonly admissions: Counter<'outcome'>;
  readonly lookupMisses: Counter<'result'>;
  readonly latency: Histogram<'outcome'>;
  readonly certificateReloads: Counter<'result'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.admissions = new Counter({
      name: 'idbridge_webhook_admissions_total',
      help: 'Pod admission reviews answered, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.lookupMisses = new Counter({
      name: 'idbridge_webhook_serviceaccount_cache_misses_total',
      help: 'ServiceAccount lookups not answered by the informer cache, by the result of the live GET',
      labelNames: ['result'],
      registers,
    });
    this.latency = new Histogram({
      name: 'idbridge_webhook_admission_duration_seconds',
      help: 'Time from reading an AdmissionReview to its answer',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.certificateReloads = new Counter({
      name: 'idbridge_webhook_certificate_reloads_total',
      help: 'Serving certificate reloads, by result',
      labelNames: ['result'],
      registers,
    });
    if (options.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'idbridge_webhook_' });
  }
}
