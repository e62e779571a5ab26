import jsonpatch, { type Operation } from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';

/**
 * What kube-apiserver would say about a patched pod: RFC 6902 application (fast-json-patch,
 * validating each operation), Kubernetes' OpenAPI schema (kubernetes-models), and the pod
 * validation rules the schema cannot express (unique names, mounts of existing volumes, one mount
 * per path).
 */
export function applyAndValidate(pod: object, patch: Operation[] | undefined): PodObject {
  const patched = patch
    ? (jsonpatch.applyPatch(structuredClone(pod), patch, true, false).newDocument as PodObject)
    : (structuredClone(pod) as PodObject);
  new Pod(patched as never).validate();
  const problems = kubernetesRules(patched);
  if (problems.length > 0) throw new Error(`the patched pod is not valid: ${problems.join('; ')}`);
  return patched;
}

export interface ContainerObject {
  name: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  [key: string]: unknown;
}
export interface PodObject {
  metadata: { annotations?: Record<string, string>; [key: string]: unknown };
  spec: {
    containers: ContainerObject[];
    initContainers?: ContainerObject[];
    volumes?: Array<{ name: string; [key: string]: unknown }>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export function kubernetesRules(pod: PodObject): string[] {
  const problems: string[] = [];
  const volumes = pod.spec.volumes ?? [];
  const volumeNames = new Set(volumes.map((v) => v.name));
  if (volumeNames.size !== volumes.length) problems.push('duplicate volume names');
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  if (new Set(all.map((c) => c.name)).size !== all.length)
    problems.push('duplicate container names');
  for (const container of all) {
    const paths = new Set<string>();
    for (const mount of container.volumeMounts ?? []) {
      if (!volumeNames.has(mount.name))
        problems.push(`${container.name} mounts unknown volume ${mount.name}`);
      if (paths.has(mount.mountPath))
        problems.push(`${container.name} mounts two volumes at ${mount.mountPath}`);
      paths.add(mount.mountPath);
    }
    const envNames = (container.env ?? []).map((e) => e.name);
    if (new Set(envNames).size !== envNames.length)
      problems.push(`${container.name} sets a variable twice`);
    for (const variable of container.env ?? [])
      if (variable.value === '') problems.push(`${container.name} has an empty ${variable.name}`);
  }
  return problems;
}

export function envOf(container: ContainerObject): Record<string, string | undefined> {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
}
