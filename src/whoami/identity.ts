import { decodeJwt } from 'jose';
import { audiencesOf } from '../doctor/token-checks.js';

/** Who a projected ServiceAccount token says the pod is (unverified: Google does the verifying). */
export interface KubeIdentity {
  issuer?: string;
  subject?: string;
  namespace?: string;
  serviceAccount?: string;
  pod?: string;
  audiences: string[];
  issuedAt?: number;
  expiresAt?: number;
}

export function kubeIdentity(token: string): KubeIdentity | undefined {
  let payload: ReturnType<typeof decodeJwt>;
  try {
    payload = decodeJwt(token);
  } catch {
    return undefined;
  }
  const kube = (payload['kubernetes.io'] ?? {}) as { namespace?: unknown; serviceaccount?: { name?: unknown }; pod?: { name?: unknown } };
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const identity: KubeIdentity = { audiences: audiencesOf(payload) };
  const fields: Array<[keyof KubeIdentity, string | number | undefined]> = [
    ['issuer', text(payload.iss)], ['subject', text(payload.sub)], ['namespace', text(kube.namespace)],
    ['serviceAccount', text(kube.serviceaccount?.name)], ['pod', text(kube.pod?.name)],
    ['issuedAt', typeof payload.iat === 'number' ? payload.iat : undefined], ['expiresAt', typeof payload.exp === 'number' ? payload.exp : undefined],
  ];
  for (const [name, value] of fields) if (value !== undefined) (identity as unknown as Record<string, unknown>)[name] = value;
  return identity;
}

export function describeKubeIdentity(identity: KubeIdentity): string {
  const who = identity.namespace && identity.serviceAccount ? `ServiceAccount ${identity.namespace}/${identity.serviceAccount}` : identity.subject ?? '(no subject)';
  return `${who}${identity.pod ? `, pod ${identity.pod}` : ''}`;
}
