/**
 * Kubernetes object names as kube-apiserver validates them. A name that is not one must never
 * reach a lookup: `..` or `.` in a path segment walks to another resource (the Namespace, the list).
 */

/** RFC 1123 DNS subdomain: ServiceAccount names (and most object names). */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 DNS label: namespace names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isServiceAccountName(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

export function isNamespaceName(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** What is wrong with a pod's namespace or ServiceAccount name, as Kubernetes would put it, or null. */
export function serviceAccountRefProblem(namespace: string, name: string): string | null {
  const shown = (value: string) =>
    JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (!isNamespaceName(namespace)) {
    return `request.namespace ${shown(namespace)} is not a valid namespace name (a lowercase RFC 1123 DNS label of at most 63 characters)`;
  }
  if (!isServiceAccountName(name)) {
    return `spec.serviceAccountName ${shown(name)} is not a valid ServiceAccount name (a lowercase RFC 1123 DNS subdomain of at most 253 characters: a-z, 0-9, "-" and ".", starting and ending with a letter or digit); Kubernetes would refuse this pod too`;
  }
  return null;
}
