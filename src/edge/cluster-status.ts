import type { PublishedKey } from '../oidc/published.js';
import { staleUntil } from './cluster-state.js';
import type { FreshnessPolicy } from './config.js';
import type { ClusterView } from './edge-documents.js';

/** What the status page says about one cluster; decided here, rendered elsewhere. */
export interface ClusterStatus {
  cluster: string;
  issuer: string;
  condition: 'serving' | 'serving-stale' | 'not-found' | 'unavailable';
  keys: readonly PublishedKey[];
  /** Epoch ms; null when it never happened. */
  confirmedAt: number | null;
  checkedAt: number;
  discoveryChangedAt: number | null;
  jwksChangedAt: number | null;
  warnings: string[];
}

export function clusterStatus(
  view: ClusterView,
  now: number,
  policy: FreshnessPolicy,
): ClusterStatus {
  const { state, verdict, docs } = view;
  const copy = state.copy;
  const warnings: string[] = [...(docs && verdict.kind === 'serve' ? docs.warnings : [])];
  if (state.fault && verdict.kind === 'serve') {
    warnings.push(
      `serving a stale copy: the origin failed ${ago(now - state.fault.at)} (${state.fault.reason}); the copy it last confirmed ${ago(now - state.confirmedAt)} ` +
        `is served until ${iso(staleUntil(state, policy))}, then the cluster ${state.fault.missing ? 'answers 404' : 'answers 502'} unless the origin recovers`,
    );
  } else if (state.fault) {
    warnings.push(
      `not served: ${state.fault.reason}${copy ? ` and the last good copy is older than the stale limit (${Math.round(policy.maxStaleMs / 1000)} s)` : ''}`,
    );
  }
  if (copy && verdict.kind === 'serve' && copy.originIssuer !== view.issuer) {
    warnings.push(
      `the origin names the issuer ${JSON.stringify(copy.originIssuer)}, but the edge serves ${JSON.stringify(view.issuer)}: ` +
        `the cluster's tokens must carry iss ${JSON.stringify(view.issuer)} (kube-apiserver --service-account-issuer=${view.issuer}) for Google STS to accept them`,
    );
  }
  const served = verdict.kind === 'serve';
  return {
    cluster: view.cluster,
    issuer: view.issuer,
    condition: served ? (verdict.stale ? 'serving-stale' : 'serving') : verdict.kind,
    keys: served && docs ? docs.keys : [],
    confirmedAt: state.confirmedAt > 0 ? state.confirmedAt : null,
    checkedAt: state.checkedAt,
    discoveryChangedAt: copy?.changedAt.discovery ?? null,
    jwksChangedAt: copy?.changedAt.jwks ?? null,
    warnings,
  };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "12 s ago", "3 min ago", "5 h ago": rough on purpose, next to the exact time. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
