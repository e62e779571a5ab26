import { decodeJwt } from 'jose';
import { audiencesOf } from '../doctor/token-checks.js';
import { kubernetesClaims } from '../verify/kube-claims.js';

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
  const text = (value: unknown) => (typeof value === 'string' ? { value } : undefined);
  const issuer = text(payload.iss);
  const subject = text(payload.sub);
  return {
    audiences: audiencesOf(payload),
    ...(issuer ? { issuer: issuer.value } : {}),
    ...(subject ? { subject: subject.value } : {}),
    ...kubernetesClaims(payload),
    ...(typeof payload.iat === 'number' ? { issuedAt: payload.iat } : {}),
    ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp } : {}),
  };
}

export function describeKubeIdentity(identity: KubeIdentity): string {
  const who =
    identity.namespace && identity.serviceAccount
      ? `ServiceAccount ${identity.namespace}/${identity.serviceAccount}`
      : (identity.subject ?? '(no subject)');
  return `${who}${identity.pod ? `, pod ${identity.pod}` : ''}`;
}
