import { IdbridgeError } from '../errors.js';
import type { ClusterRecord } from '../registry/record.js';
import type { VerifiedToken } from '../verify/subject-token.js';
import { checkProvider, checkSubject } from './policy.js';
import { upstreamTokenForm, type StsTokenRequest } from './sts-request.js';
import type { UpstreamRequest } from './upstream.js';

/** Who an exchanged access token belongs to (for audit, and to relay IAM Credentials calls). */
export interface ExchangeIdentity {
  cluster: string;
  subject: string;
  provider: string;
}

/** What the broker does with a verified token exchange: send it to Google STS, or refuse it. */
export type ExchangeDecision =
  | { kind: 'forward'; upstream: UpstreamRequest; identity: ExchangeIdentity }
  | { kind: 'refuse'; error: IdbridgeError };

export interface ExchangeInput {
  /** The subject token, already verified against the cluster's keys. */
  verified: VerifiedToken;
  /** The cluster's record: its broker policy (providers, subjects). */
  record: ClusterRecord;
  request: StsTokenRequest;
  /** Google STS base URL (configuration only, never a request). */
  stsUrl: string;
}

/**
 * The exchange decision as one pure function of plain values: the cluster's policy on the
 * provider and the subject, then the exact request Google STS receives. Caching, coalescing and
 * rate limits are the broker's state and come after it.
 */
export function decideExchange({
  verified,
  record,
  request,
  stsUrl,
}: ExchangeInput): ExchangeDecision {
  try {
    checkProvider(record, request.provider);
    checkSubject(record, verified.subject);
  } catch (err) {
    if (err instanceof IdbridgeError) return { kind: 'refuse', error: err };
    throw err;
  }
  return {
    kind: 'forward',
    upstream: {
      endpoint: 'token',
      url: `${stsUrl}/v1/token`,
      contentType: 'application/x-www-form-urlencoded',
      body: upstreamTokenForm(request),
    },
    identity: { cluster: record.id, subject: verified.subject, provider: request.provider.path },
  };
}
