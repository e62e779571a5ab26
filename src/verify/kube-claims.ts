/** The `kubernetes.io` claim of a ServiceAccount token, as far as it holds strings. */
export interface KubernetesClaims {
  namespace?: string;
  serviceAccount?: string;
  pod?: string;
}

export function kubernetesClaims(payload: Record<string, unknown>): KubernetesClaims {
  const kube = (payload['kubernetes.io'] ?? {}) as {
    namespace?: unknown;
    serviceaccount?: { name?: unknown };
    pod?: { name?: unknown };
  };
  return {
    ...(typeof kube.namespace === 'string' ? { namespace: kube.namespace } : {}),
    ...(typeof kube.serviceaccount?.name === 'string'
      ? { serviceAccount: kube.serviceaccount.name }
      : {}),
    ...(typeof kube.pod?.name === 'string' ? { pod: kube.pod.name } : {}),
  };
}
