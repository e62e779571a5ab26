import type { V1Container, V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { externalAccountConfig } from '../credentials/credential-config.js';
import type { ContainerView, JsonPatchOperation, PodView } from './admission-review.js';
import { compatibleAnnotations, type InjectionPlan } from './annotations.js';
import {
  CONVENTIONS,
  projectedTokenVolume,
  secretsPath,
  type CloudConventions,
  type PodOs,
} from './conventions.js';
import {
  METADATA_SIDECAR_NAME,
  metadataEnv,
  metadataSidecar,
  type MetadataServerPlan,
} from './metadata-server.js';

export type { PodOs } from './conventions.js';

/**
 * The pod mutation, as a pure function: a pod as received and each cloud's resolved injection
 * in, the smallest RFC 6902 patch that gives it credentials out. Only targeted `add`/`replace`
 * operations on what this webhook owns, so every field it does not know survives, and a pod that
 * already has everything (reinvocation) gets an empty patch.
 */

/** Names and paths of the GCP webhook (direct injection mode), so its manifests keep working. */
export const TOKEN_VOLUME = CONVENTIONS.google.tokenVolume;
export const CONFIG_VOLUME = 'external-credential-config';
/** gcloud's writable state (CLOUDSDK_CONFIG). */
export const SDK_CONFIG_VOLUME = 'cloudsdk-config';
export const TOKEN_FILE_NAME = CONVENTIONS.google.tokenFile;
export const CONFIG_FILE_NAME = 'federation.json';

export interface InjectionLayout {
  tokenDir: string;
  tokenFile: string;
  configDir: string;
  configFile: string;
  sdkConfigDir: string;
}

function layout(os: PodOs): InjectionLayout {
  const token = CONVENTIONS.google.tokenDir;
  return {
    tokenDir: secretsPath(os, ...token),
    tokenFile: secretsPath(os, ...token, TOKEN_FILE_NAME),
    configDir: secretsPath(os, 'gcloud', 'config'),
    configFile: secretsPath(os, 'gcloud', 'config', CONFIG_FILE_NAME),
    sdkConfigDir: secretsPath(os, 'gcloud', 'cloudsdk'),
  };
}

export const LAYOUTS: Record<PodOs, InjectionLayout> = {
  linux: layout('linux'),
  windows: layout('windows'),
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
    projectedTokenVolume(
      CONVENTIONS.google,
      { audience: plan.audience, expirationSeconds: plan.expirationSeconds },
      settings.fileMode,
    ),
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

/**
 * What one cloud adds to a pod: plain values from its decision (Google's configuration and
 * volumes, AWS's and Azure's token and variables), merged by the one path below.
 */
export interface CloudInjection {
  conventions: CloudConventions;
  /** Pod annotations to set (Google's rendered configuration). */
  podAnnotations?: Record<string, string>;
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  env: V1EnvVar[];
  /** Variables added only when the container sets none of them (the AWS webhook's rule). */
  envGroups?: ReadonlyArray<readonly string[]>;
  /** Containers this cloud leaves alone (its own skip-containers annotation). */
  skipContainers: string[];
  /** How warnings name the skip list: "skip-containers" or the annotation key. */
  skipLabel: string;
}

/** The Google injection: the credential configuration, its volumes and the SDK variables. */
export function googleInjection(
  pod: PodView,
  plan: InjectionPlan,
  settings: MutationSettings,
  metadata?: MetadataServerPlan,
): CloudInjection {
  const os = podOs(pod);
  const annotationKey = compatibleAnnotations(settings.annotationPrefix).credentialsJson;
  return {
    conventions: CONVENTIONS.google,
    podAnnotations: { [annotationKey]: renderCredentialConfig(plan, os) },
    volumes: desiredVolumes(plan, settings),
    mounts: desiredMounts(os),
    env: [...desiredEnv(plan, os), ...(metadata ? metadataEnv(metadata) : [])],
    skipContainers: plan.skipContainers,
    skipLabel: 'skip-containers',
  };
}

export function mutatePod(
  pod: PodView,
  plan: InjectionPlan,
  settings: MutationSettings,
  metadata?: MetadataServerPlan,
): MutationResult {
  return mutatePodFor(pod, [googleInjection(pod, plan, settings, metadata)], settings, metadata);
}

/**
 * The one mutation path for every cloud: annotations, then volumes by name, then each container
 * (mounts and variables of every cloud that does not skip it, in one list each), then the
 * metadata server sidecar. Clouds are applied in the order given.
 */
export function mutatePodFor(
  pod: PodView,
  injections: readonly CloudInjection[],
  settings: MutationSettings,
  metadata?: MetadataServerPlan,
): MutationResult {
  const patch: JsonPatchOperation[] = [];
  const warnings: string[] = [];

  // 1. Pod annotations (the configuration the downwardAPI volume reads).
  const annotations: Record<string, string> = Object.assign(
    {},
    ...injections.map((i) => i.podAnnotations ?? {}),
  );
  if (Object.keys(annotations).length > 0) {
    if (!pod.metadata) {
      patch.push({ op: 'add', path: '/metadata', value: { annotations } });
    } else if (!pod.metadata.annotations) {
      patch.push({ op: 'add', path: '/metadata/annotations', value: annotations });
    } else {
      for (const [key, value] of Object.entries(annotations))
        if (pod.metadata.annotations[key] !== value)
          patch.push({ op: 'add', path: pointer('metadata', 'annotations', key), value });
    }
  }

  // 2. Volumes, by name; a same-named volume is replaced or kept as its cloud's webhook does.
  const missing: V1Volume[] = [];
  for (const injection of injections) {
    for (const wanted of injection.volumes) {
      const index = (pod.spec.volumes ?? []).findIndex((v) => v.name === wanted.name);
      if (index < 0) missing.push(wanted);
      else if (covers(pod.spec.volumes![index], wanted)) continue;
      else if (injection.conventions.existingVolume === 'replace') {
        warnings.push(`volume ${wanted.name} replaced by the credential volume of the same name`);
        patch.push({ op: 'replace', path: pointer('spec', 'volumes', index), value: wanted });
      } else {
        warnings.push(
          `volume ${wanted.name} already exists and is kept as it is, as the ${injection.conventions.title} webhook does`,
        );
      }
    }
  }
  appendAll(patch, pointer('spec', 'volumes'), pod.spec.volumes, missing);

  // 3. Every container, init container and native sidecar not skipped.
  const seen = new Set<string>();
  for (const field of ['initContainers', 'containers'] as const) {
    (pod.spec[field] ?? []).forEach((container, index) => {
      seen.add(container.name);
      // The metadata server sidecar is this webhook's own (already complete) container.
      if (field === 'initContainers' && container.name === METADATA_SIDECAR_NAME) return;
      const applying = injections.filter((i) => !i.skipContainers.includes(container.name));
      if (applying.length === 0) return;
      mutateContainer(patch, warnings, ['spec', field, index], container, applying, settings);
    });
  }
  for (const injection of injections)
    for (const name of new Set(injection.skipContainers))
      if (!seen.has(name))
        warnings.push(`${injection.skipLabel} names "${name}", which this pod does not have`);

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
  injections: readonly CloudInjection[],
  settings: MutationSettings,
): void {
  const base = pointer(...at);
  const existingMounts = container.volumeMounts ?? [];
  const addMounts: V1VolumeMount[] = [];
  for (const injection of injections) {
    for (const mount of injection.mounts) {
      const index = existingMounts.findIndex((m) => m.name === mount.name);
      if (index >= 0) {
        if (
          injection.conventions.existingMount === 'replace' &&
          !covers(existingMounts[index], mount)
        )
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
  }
  appendAll(patch, `${base}/volumeMounts`, container.volumeMounts, addMounts);

  const existingEnv = container.env ?? [];
  const has = (name: string) => existingEnv.some((e) => e.name === name);
  const addEnv: V1EnvVar[] = [];
  for (const injection of injections) {
    for (const variable of injection.env) {
      const index = existingEnv.findIndex((e) => e.name === variable.name);
      if (index < 0) {
        // A group the container already sets part of is the container's (AWS's rule).
        const group = injection.envGroups?.find((g) => g.includes(variable.name));
        if (!settings.overwriteEnv && group?.some(has)) continue;
        addEnv.push(variable);
        continue;
      }
      const current = existingEnv[index]!;
      if (current.value === variable.value && current.valueFrom === undefined) continue;
      // A downward API variable as the webhook wrote it (kube-apiserver may add defaults).
      if (variable.valueFrom !== undefined && covers(current, variable)) continue;
      if (settings.overwriteEnv) {
        patch.push({ op: 'replace', path: `${base}/env/${index}`, value: variable });
      } else if (injection.conventions.warnOnKeep.includes(variable.name)) {
        warnings.push(`container ${container.name} keeps its own ${variable.name}`);
      }
    }
  }
  appendAll(patch, `${base}/env`, container.env, addEnv);
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
