import type { V1Container, V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { externalAccountConfig } from '../credentials/credential-config.js';
import type { ContainerView, JsonPatchOperation, PodView } from './admission-review.js';
import { compatibleAnnotations, type InjectionPlan } from './annotations.js';
import {
  METADATA_SIDECAR_NAME,
  metadataEnv,
  metadataSidecar,
  type MetadataServerPlan,
} from './metadata-server.js';

/**
 * The pod mutation, as a pure function: a pod as received and a resolved plan in, the smallest
 * RFC 6902 patch that gives it credentials out. Only targeted `add`/`replace` operations on what
 * this webhook owns, so every field it does not know survives, and a pod that already has
 * everything (reinvocation) gets an empty patch.
 */

/** Names and paths of the GCP webhook (direct injection mode), so its manifests keep working. */
export const TOKEN_VOLUME = 'gcp-iam-token';
export const CONFIG_VOLUME = 'external-credential-config';
/** gcloud's writable state (CLOUDSDK_CONFIG). */
export const SDK_CONFIG_VOLUME = 'cloudsdk-config';
export const TOKEN_FILE_NAME = 'token';
export const CONFIG_FILE_NAME = 'federation.json';

export type PodOs = 'linux' | 'windows';

export interface InjectionLayout {
  tokenDir: string;
  tokenFile: string;
  configDir: string;
  configFile: string;
  sdkConfigDir: string;
}

function layout(root: string, sep: string): InjectionLayout {
  const join = (...parts: string[]) => [root, ...parts].join(sep);
  return {
    tokenDir: join('sts.googleapis.com', 'serviceaccount'),
    tokenFile: join('sts.googleapis.com', 'serviceaccount', TOKEN_FILE_NAME),
    configDir: join('gcloud', 'config'),
    configFile: join('gcloud', 'config', CONFIG_FILE_NAME),
    sdkConfigDir: join('gcloud', 'cloudsdk'),
  };
}

export const LAYOUTS: Record<PodOs, InjectionLayout> = {
  linux: layout('/var/run/secrets', '/'),
  // Windows containers see volumes at drive paths; kubelet mounts its own token the same way.
  windows: layout('C:\\var\\run\\secrets', '\\'),
};

export interface MutationSettings {
  annotationPrefix: string;
  /** Mode of the token and configuration files: readable by non-root containers by default. */
  fileMode: number;
  /** Replace environment variables the user already set (default: keep them). */
  overwriteEnv: boolean;
}

export interface MutationResult {
  patch: JsonPatchOperation[];
  warnings: string[];
}

/** `spec.os.name: windows`, or the well-known node selector Windows workloads use. */
export function podOs(pod: PodView): PodOs {
  if (pod.spec.os?.name) return pod.spec.os.name === 'windows' ? 'windows' : 'linux';
  return pod.spec.nodeSelector?.['kubernetes.io/os'] === 'windows' ? 'windows' : 'linux';
}

/** The credential configuration the pod's libraries read, as the annotation's value. */
export function renderCredentialConfig(plan: InjectionPlan, os: PodOs): string {
  return JSON.stringify(
    externalAccountConfig({
      provider: plan.provider,
      tokenPath: LAYOUTS[os].tokenFile,
      ...(plan.serviceAccountEmail ? { serviceAccountEmail: plan.serviceAccountEmail } : {}),
      ...(plan.serviceAccountEmail && plan.tokenLifetimeSeconds !== undefined
        ? { tokenLifetimeSeconds: plan.tokenLifetimeSeconds }
        : {}),
      ...(plan.brokerUrl ? { stsUrl: plan.brokerUrl, iamCredentialsUrl: plan.brokerUrl } : {}),
      universeDomain: plan.universeDomain,
      format: 'text',
    }),
  );
}

export function desiredVolumes(plan: InjectionPlan, settings: MutationSettings): V1Volume[] {
  const annotation = compatibleAnnotations(settings.annotationPrefix).credentialsJson;
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: plan.audience,
              expirationSeconds: plan.expirationSeconds,
              path: TOKEN_FILE_NAME,
            },
          },
        ],
        defaultMode: settings.fileMode,
      },
    },
    {
      name: CONFIG_VOLUME,
      downwardAPI: {
        items: [
          {
            path: CONFIG_FILE_NAME,
            fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${annotation}']` },
          },
        ],
        defaultMode: settings.fileMode,
      },
    },
    { name: SDK_CONFIG_VOLUME, emptyDir: {} },
  ];
}

export function desiredMounts(os: PodOs): V1VolumeMount[] {
  const paths = LAYOUTS[os];
  return [
    { name: TOKEN_VOLUME, mountPath: paths.tokenDir, readOnly: true },
    { name: CONFIG_VOLUME, mountPath: paths.configDir, readOnly: true },
    { name: SDK_CONFIG_VOLUME, mountPath: paths.sdkConfigDir },
  ];
}

/** Never an empty variable: project and region only when known. */
export function desiredEnv(plan: InjectionPlan, os: PodOs): V1EnvVar[] {
  const paths = LAYOUTS[os];
  const env: V1EnvVar[] = [
    { name: 'GOOGLE_APPLICATION_CREDENTIALS', value: paths.configFile },
    { name: 'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE', value: paths.configFile },
    { name: 'CLOUDSDK_CONFIG', value: paths.sdkConfigDir },
  ];
  if (plan.project)
    env.push(
      { name: 'GOOGLE_CLOUD_PROJECT', value: plan.project },
      { name: 'CLOUDSDK_CORE_PROJECT', value: plan.project },
    );
  if (plan.region) env.push({ name: 'CLOUDSDK_COMPUTE_REGION', value: plan.region });
  return env;
}

/** RFC 6901: `~` and `/` inside a key are escaped. */
export function pointer(...segments: Array<string | number>): string {
  let path = '';
  for (const segment of segments) {
    const text = String(segment);
    path += `/${text.includes('~') || text.includes('/') ? text.replace(/~/g, '~0').replace(/\//g, '~1') : text}`;
  }
  return path;
}

/** Whether `actual` has every field of `wanted` with the same value (server defaults may add more). */
export function covers(actual: unknown, wanted: unknown): boolean {
  if (wanted === null || typeof wanted !== 'object') return actual === wanted;
  if (actual === null || typeof actual !== 'object') return false;
  if (Array.isArray(wanted)) {
    return (
      Array.isArray(actual) &&
      actual.length === wanted.length &&
      wanted.every((item, i) => covers(actual[i], item))
    );
  }
  return Object.entries(wanted).every(
    ([key, value]) =>
      value === undefined || covers((actual as Record<string, unknown>)[key], value),
  );
}

export function mutatePod(
  pod: PodView,
  plan: InjectionPlan,
  settings: MutationSettings,
  metadata?: MetadataServerPlan,
): MutationResult {
  const patch: JsonPatchOperation[] = [];
  const warnings: string[] = [];
  const os = podOs(pod);
  const annotationKey = compatibleAnnotations(settings.annotationPrefix).credentialsJson;

  // 1. The configuration, in the annotation the downwardAPI volume reads.
  const config = renderCredentialConfig(plan, os);
  if (!pod.metadata) {
    patch.push({
      op: 'add',
      path: '/metadata',
      value: { annotations: { [annotationKey]: config } },
    });
  } else if (!pod.metadata.annotations) {
    patch.push({ op: 'add', path: '/metadata/annotations', value: { [annotationKey]: config } });
  } else if (pod.metadata.annotations[annotationKey] !== config) {
    patch.push({
      op: 'add',
      path: pointer('metadata', 'annotations', annotationKey),
      value: config,
    });
  }

  // 2. Volumes, by name.
  mergeByName(
    patch,
    ['spec', 'volumes'],
    pod.spec.volumes,
    desiredVolumes(plan, settings),
    (existing, wanted, index) => {
      warnings.push(`volume ${wanted.name} replaced by the credential volume of the same name`);
      patch.push({ op: 'replace', path: pointer('spec', 'volumes', index), value: wanted });
    },
  );

  // 3. Every container, init container and native sidecar not skipped.
  const skip = new Set(plan.skipContainers);
  const mounts = desiredMounts(os);
  const env = [...desiredEnv(plan, os), ...(metadata ? metadataEnv(metadata) : [])];
  const seen = new Set<string>();
  for (const field of ['initContainers', 'containers'] as const) {
    (pod.spec[field] ?? []).forEach((container, index) => {
      seen.add(container.name);
      // The metadata server sidecar is this webhook's own (already complete) container.
      if (
        skip.has(container.name) ||
        (field === 'initContainers' && container.name === METADATA_SIDECAR_NAME)
      )
        return;
      mutateContainer(
        patch,
        warnings,
        ['spec', field, index],
        container,
        mounts,
        env,
        settings.overwriteEnv,
      );
    });
  }
  for (const name of skip)
    if (!seen.has(name))
      warnings.push(`skip-containers names "${name}", which this pod does not have`);

  // 4. Last, so the index shift does not move what the operations above point at.
  if (metadata?.kind === 'sidecar') addSidecar(patch, warnings, pod, metadataSidecar(metadata));
  return { patch, warnings };
}

/** First among init containers, so regular init containers already find the metadata server. */
function addSidecar(
  patch: JsonPatchOperation[],
  warnings: string[],
  pod: PodView,
  sidecar: V1Container,
): void {
  const existing = pod.spec.initContainers ?? [];
  const index = existing.findIndex((c) => c.name === sidecar.name);
  if (index >= 0) {
    if (!covers(existing[index], sidecar)) {
      warnings.push(`init container ${sidecar.name} replaced by the metadata server sidecar`);
      patch.push({ op: 'replace', path: pointer('spec', 'initContainers', index), value: sidecar });
    }
    return;
  }
  if (!pod.spec.initContainers)
    patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar] });
  else patch.push({ op: 'add', path: '/spec/initContainers/0', value: sidecar });
}

function mutateContainer(
  patch: JsonPatchOperation[],
  warnings: string[],
  at: Array<string | number>,
  container: ContainerView,
  mounts: V1VolumeMount[],
  env: V1EnvVar[],
  overwriteEnv: boolean,
): void {
  const base = pointer(...at);
  const existingMounts = container.volumeMounts ?? [];
  const addMounts: V1VolumeMount[] = [];
  for (const mount of mounts) {
    const index = existingMounts.findIndex((m) => m.name === mount.name);
    if (index >= 0) {
      if (!covers(existingMounts[index], mount))
        patch.push({ op: 'replace', path: `${base}/volumeMounts/${index}`, value: mount });
    } else if (existingMounts.some((m) => m.mountPath === mount.mountPath)) {
      // Two mounts at one path make the pod invalid: the user's own mount wins.
      warnings.push(
        `container ${container.name} already mounts something at ${mount.mountPath}; ${mount.name} not mounted there`,
      );
    } else {
      addMounts.push(mount);
    }
  }
  appendAll(patch, `${base}/volumeMounts`, container.volumeMounts, addMounts);

  const existingEnv = container.env ?? [];
  const addEnv: V1EnvVar[] = [];
  for (const variable of env) {
    const index = existingEnv.findIndex((e) => e.name === variable.name);
    if (index < 0) {
      addEnv.push(variable);
      continue;
    }
    const current = existingEnv[index]!;
    if (current.value === variable.value && current.valueFrom === undefined) continue;
    // A downward API variable as the webhook wrote it (kube-apiserver may add defaults).
    if (variable.valueFrom !== undefined && covers(current, variable)) continue;
    if (overwriteEnv) {
      patch.push({ op: 'replace', path: `${base}/env/${index}`, value: variable });
    } else if (
      variable.name === 'GOOGLE_APPLICATION_CREDENTIALS' ||
      variable.name === 'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE' ||
      variable.name === 'GCE_METADATA_HOST'
    ) {
      warnings.push(`container ${container.name} keeps its own ${variable.name}`);
    }
  }
  appendAll(patch, `${base}/env`, container.env, addEnv);
}

/** Adds what is missing by name; `onDiffer` decides about a same-named entry that differs. */
function mergeByName<T extends { name: string }>(
  patch: JsonPatchOperation[],
  at: string[],
  existing: Array<{ name: string }> | null | undefined,
  wanted: T[],
  onDiffer: (existing: { name: string }, wanted: T, index: number) => void,
): void {
  const missing: T[] = [];
  for (const item of wanted) {
    const index = (existing ?? []).findIndex((e) => e.name === item.name);
    if (index < 0) missing.push(item);
    else if (!covers(existing![index], item)) onDiffer(existing![index]!, item, index);
  }
  appendAll(patch, pointer(...at), existing, missing);
}

/** One `add` of the whole list when the field is absent, else one `add …/-` per item. */
function appendAll(
  patch: JsonPatchOperation[],
  path: string,
  existing: unknown[] | null | undefined,
  items: unknown[],
): void {
  if (items.length === 0) return;
  if (!existing) {
    patch.push({ op: 'add', path, value: items });
    return;
  }
  for (const item of items) patch.push({ op: 'add', path: `${path}/-`, value: item });
}
