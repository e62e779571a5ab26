import type { ClusterView } from '../api/schemas.js';
import { formatTable } from '../report/table.js';
import type { CreateClusterResponse, PutKeysResponse } from './client.js';

function keySummary(cluster: ClusterView): string {
  if (cluster.keys.length === 0) return 'none yet';
  const algorithms = [...new Set(cluster.keys.map((key) => key.alg))].join(',');
  return `${cluster.keys.length} (${algorithms})`;
}

export function renderClusterTable(clusters: readonly ClusterView[]): string {
  if (clusters.length === 0)
    return 'No clusters registered. Register one with: idbridge clusters create ID --jwks FILE\n';
  return formatTable(
    ['ID', 'ISSUER', 'KEYS', 'SYNC SUBJECT', 'VERSION', 'UPDATED'],
    clusters.map((c) => [
      c.id,
      c.issuer,
      keySummary(c),
      c.syncSubject,
      String(c.version),
      c.updatedAt,
    ]),
  );
}

export function renderCluster(cluster: ClusterView): string {
  const lines = [
    `cluster:       ${cluster.id}`,
    `issuer:        ${cluster.issuer}`,
    `discovery:     ${cluster.discoveryUrl}`,
    `jwks:          ${cluster.jwksUrl}`,
    `sync subject:  ${cluster.syncSubject}`,
    `version:       ${cluster.version}`,
    `created:       ${cluster.createdAt}`,
    `updated:       ${cluster.updatedAt}`,
  ];
  if (cluster.broker) lines.push(`broker policy: ${JSON.stringify(cluster.broker)}`);
  let text = `${lines.join('\n')}\n`;
  if (cluster.keys.length === 0) {
    text +=
      "\nNo keys yet: nothing is published until the cluster's keys are uploaded (idbridge clusters update ID --jwks FILE) or synced.\n";
  } else {
    text += `\n${formatTable(
      ['KID', 'ALG', 'KTY', 'FIRST SEEN', 'LAST SEEN'],
      cluster.keys.map((k) => [k.kid, k.alg, k.kty, k.firstSeen, k.lastSeen]),
    )}`;
  }
  const events = cluster.keyEvents.slice(-5);
  if (events.length > 0) {
    text += `\nRecent key changes:\n${formatTable(
      ['AT', 'SOURCE', 'ADDED', 'REMOVED'],
      events.map((e) => [e.at, e.source, e.added.join(',') || '-', e.removed.join(',') || '-']),
    )}`;
  }
  return text;
}

function list(title: string, items: readonly string[], numbered = false): string {
  if (items.length === 0) return '';
  return `\n${title}\n${items.map((item, i) => `  ${numbered ? `${i + 1}.` : '-'} ${item}`).join('\n')}\n`;
}

/** What `create` prints: the record, the kube-apiserver flags to set, warnings and next steps. */
export function renderCreated(
  response: CreateClusterResponse,
  extraSteps: readonly string[],
): string {
  return (
    `Registered cluster ${response.cluster.id}.\n\n${renderCluster(response.cluster)}` +
    `\nSet these kube-apiserver flags:\n${response.kubeApiserver.flags.map((flag) => `  ${flag}`).join('\n')}\n` +
    list('Notes:', response.kubeApiserver.notes) +
    list('Warnings:', response.warnings) +
    list('Next steps:', [...response.next, ...extraSteps], true)
  );
}

export function renderKeysReplaced(response: PutKeysResponse): string {
  const change = response.changed
    ? `keys added: ${response.added.join(', ') || 'none'}; removed: ${response.removed.join(', ') || 'none'}`
    : 'the keys were already these; nothing changed';
  return `Cluster ${response.cluster.id}: ${change} (version ${response.cluster.version}).\n${list('Warnings:', response.warnings)}`;
}
