import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { PROJECT_ID } from '../credentials/credential-config.js';
import { CONFIG_VOLUME, LAYOUTS, TOKEN_VOLUME, type PodOs } from './pod-mutation.js';

/**
 * Wiring pods to `idbridge metadata-server` (issue #13): which pods get it and how. The decision
 * is a pure function of the webhook flag and the `idbridge.dev/metadata-server` annotation (pod >
 * ServiceAccount); the pieces it adds (a native sidecar, the GCE_METADATA_* variables) are plain
 * values that pod-mutation.ts merges with its usual minimal, reinvocation-safe rules.
 */

export const METADATA_SERVER_ANNOTATION = 'idbridge.dev/metadata-server';
/** The injected native sidecar; found by this name on reinvocation. */
export const METADATA_SIDECAR_NAME = 'idbridge-metadata-server';
/** GKE's metadata server port (169.254.169.252:988): node mode's, on the host network as root. */
export const METADATA_PORT = 988;
/**
 * The sidecar's port: unprivileged, because the sidecar runs as 65532 with every capability
 * dropped and containerd 1.x and CRI-O leave net.ipv4.ip_unprivileged_port_start at 1024, so 988
 * would fail to bind there. Clients never see it: the GCE_METADATA_* variables carry it.
 */
export const METADATA_SIDECAR_PORT = 8988;
/** Every pod network namespace has 127.0.0.1 on `lo`, IPv6-only clusters included. */
export const METADATA_SIDECAR_HOST = '127.0.0.1';
/** Node mode: the downward API puts the node's address here; the GCE_* variables expand it. */
export const HOST_IP_VARIABLE = 'IDBRIDGE_HOST_IP';

/** `--metadata-server`: who gets a metadata server without asking (node: all, pointed at the DaemonSet). */
export const METADATA_SERVER_MODES = ['always', 'annotated', 'never', 'node'] as const;
export type MetadataServerMode = (typeof METADATA_SERVER_MODES)[number];

/** Values of the annotation: "true" a sidecar, "link-local" a sidecar that also owns 169.254.169.254, "node" the DaemonSet, "false" none. */
const ANNOTATION_VALUES = ['true', 'false', 'link-local', 'node'] as const;
type AnnotationValue = (typeof ANNOTATION_VALUES)[number];

export interface MetadataServerSettings {
  mode: MetadataServerMode;
  /** The image the sidecar runs (the webhook's own, which holds the whole CLI). */
  image?: string;
}

export type MetadataServerPlan =
  { kind: 'sidecar'; image: string; linkLocal: boolean; projectId: string } | { kind: 'node' };

export type MetadataChoice =
  | { kind: 'none'; warnings: string[] }
  | { kind: 'plan'; plan: MetadataServerPlan; warnings: string[] }
  | { kind: 'invalid'; problem: string };

export interface ChoiceInput {
  settings: MetadataServerSettings;
  serviceAccount: { namespace: string; name: string; annotations: Record<string, string> };
  podAnnotations: Record<string, string>;
  os: PodOs;
  /**
   * The project of the Google injection (annotation, webhook default, or the service account's
   * email). The sidecar answers project/project-id with it and, for a direct-access
   * ServiceAccount, the email PROJECT_ID.svc.id.goog; it has no other way to learn it.
   */
  project?: string;
}

/** The annotation (pod > ServiceAccount) chooses, unless the webhook says never; the flag decides for pods that say nothing. */
export function chooseMetadataServer({
  settings,
  serviceAccount,
  podAnnotations,
  os,
  project,
}: ChoiceInput): MetadataChoice {
  if (settings.mode === 'never') return { kind: 'none', warnings: [] };
  const fromPod = podAnnotations[METADATA_SERVER_ANNOTATION];
  const raw = fromPod ?? serviceAccount.annotations[METADATA_SERVER_ANNOTATION];
  let value: AnnotationValue | undefined;
  const where =
    fromPod !== undefined
      ? 'pod annotation'
      : `ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}: annotation`;
  if (raw !== undefined) {
    if (!(ANNOTATION_VALUES as readonly string[]).includes(raw)) {
      return {
        kind: 'invalid',
        problem: `${where} ${METADATA_SERVER_ANNOTATION} ${JSON.stringify(raw.slice(0, 40))} must be "true", "false", "link-local" or "node"`,
      };
    }
    value = raw as AnnotationValue;
  } else if (settings.mode === 'always') {
    value = 'true';
  } else if (settings.mode === 'node') {
    value = 'node';
  }
  if (value === undefined || value === 'false') return { kind: 'none', warnings: [] };

  // The sidecar image is Linux-only and the DaemonSet runs on Linux nodes: Windows pods keep the credential files.
  if (os === 'windows') {
    return {
      kind: 'none',
      warnings: [
        `no metadata server for a Windows pod (${value === 'node' ? 'the node DaemonSet runs on Linux nodes' : 'the sidecar image is Linux-only'}); it keeps the credential file (GOOGLE_APPLICATION_CREDENTIALS)`,
      ],
    };
  }
  if (value === 'node') return { kind: 'plan', plan: { kind: 'node' }, warnings: [] };
  if (!settings.image) {
    return {
      kind: 'invalid',
      problem: `${METADATA_SERVER_ANNOTATION}: "${value}" asks for a metadata server sidecar, but the webhook has no image for it; start the webhook with --metadata-server-image IMAGE (its own image)`,
    };
  }
  // A project number (digits) is a valid GOOGLE_CLOUD_PROJECT but not a project id.
  if (project === undefined || !PROJECT_ID.test(project)) {
    const fix = `annotate the ServiceAccount with idbridge.dev/project-id: PROJECT_ID (the project of its workload identity pool), or start the webhook with --default-project PROJECT_ID`;
    const why = `the metadata server sidecar needs a project id for project/project-id${project === undefined ? ' and the ServiceAccount names no Google service account to read it from' : `, and ${JSON.stringify(project)} is a project number`}`;
    // Asked for by name: refuse, so the pod does not start with a sidecar that cannot.
    if (raw !== undefined)
      return { kind: 'invalid', problem: `${where} ${METADATA_SERVER_ANNOTATION}: ${why}; ${fix}` };
    // Chosen by the webhook's flag: the pod keeps its credential files, and is told why.
    // Kubernetes keeps warnings to 120 characters: the short form.
    return {
      kind: 'none',
      warnings: [
        'no metadata server sidecar (no project id): annotate the ServiceAccount idbridge.dev/project-id, or --default-project',
      ],
    };
  }
  return {
    kind: 'plan',
    plan: {
      kind: 'sidecar',
      image: settings.image,
      linkLocal: value === 'link-local',
      projectId: project,
    },
    warnings: [],
  };
}

/** GCE_METADATA_HOST (Go, Python), GCE_METADATA_ROOT (gcloud), GCE_METADATA_IP (Node, Python's ping): one address for all. */
export function metadataEnv(plan: MetadataServerPlan): V1EnvVar[] {
  const address =
    plan.kind === 'node'
      ? `$(${HOST_IP_VARIABLE}):${METADATA_PORT}`
      : `${METADATA_SIDECAR_HOST}:${METADATA_SIDECAR_PORT}`;
  const env: V1EnvVar[] = [];
  // Dependent variables may only refer to variables listed before them.
  if (plan.kind === 'node')
    env.push({
      name: HOST_IP_VARIABLE,
      valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.hostIP' } },
    });
  for (const name of ['GCE_METADATA_HOST', 'GCE_METADATA_ROOT', 'GCE_METADATA_IP'])
    env.push({ name, value: address });
  return env;
}

/** Probes run in the container (the server listens on loopback only, which kubelet's httpGet cannot reach). */
const READY_CHECK = `fetch('http://${METADATA_SIDECAR_HOST}:${METADATA_SIDECAR_PORT}/readyz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`;

/** The native sidecar: starts before every other container (later ones wait for its startup probe) and never holds a Job open. */
export function metadataSidecar(
  plan: Extract<MetadataServerPlan, { kind: 'sidecar' }>,
): V1Container {
  const paths = LAYOUTS.linux;
  const probe = { exec: { command: ['node', '-e', READY_CHECK] } };
  return {
    name: METADATA_SIDECAR_NAME,
    image: plan.image,
    args: [
      'metadata-server',
      '--credential-config',
      paths.configFile,
      '--host',
      METADATA_SIDECAR_HOST,
      '--port',
      String(METADATA_SIDECAR_PORT),
      '--project-id',
      plan.projectId,
      ...(plan.linkLocal ? ['--link-local'] : []),
    ],
    restartPolicy: 'Always',
    startupProbe: { ...probe, periodSeconds: 1, failureThreshold: 60, timeoutSeconds: 5 },
    readinessProbe: { ...probe, periodSeconds: 30, failureThreshold: 3, timeoutSeconds: 5 },
    // The server itself stays near 40 MiB; the limit leaves room for a probe's node process.
    resources: { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '128Mi' } },
    securityContext: plan.linkLocal
      ? // `ip addr add` needs CAP_NET_ADMIN and port 80 CAP_NET_BIND_SERVICE; Kubernetes grants added capabilities to root processes only.
        {
          runAsNonRoot: false,
          runAsUser: 0,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] },
        }
      : {
          runAsNonRoot: true,
          runAsUser: 65532,
          runAsGroup: 65532,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: paths.tokenDir, readOnly: true },
      { name: CONFIG_VOLUME, mountPath: paths.configDir, readOnly: true },
    ],
  };
}
