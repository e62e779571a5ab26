import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AWS_XML_HEADERS } from '../http/wire/aws-sts.js';
import { parseAssumeRoleRequest, upstreamAssumeRoleForm } from './aws-request.js';
import type { BrokerCall } from './broker.js';
import type { CloudExchange } from './cloud-exchange.js';
import { checkRole, cloudAudiences } from './policy.js';
import type { AnswerFormat } from './upstream.js';

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** AWS STS answers XML: relayed only when it is a well-formed document. */
export const AWS_XML: AnswerFormat = {
  accept: 'text/xml',
  name: 'XML',
  parse(body) {
    if (XMLValidator.validate(body) !== true) return null;
    const document: unknown = parser.parse(body);
    return typeof document === 'object' && document !== null
      ? (document as Record<string, unknown>)
      : null;
  },
};

/**
 * AssumeRoleWithWebIdentity through the broker: the token verified like Google's, the role
 * checked against the cluster's `roles`, the exact Query API request sent to the configured AWS
 * STS, its XML answer relayed and cached until shortly before the credentials' `Expiration`.
 */
export function awsAssumeRoleExchange(call: BrokerCall, stsUrl: string): CloudExchange {
  const request = parseAssumeRoleRequest(call.contentType, call.body);
  return {
    subjectToken: request.webIdentityToken,
    audiences: (record) => cloudAudiences(record, 'aws'),
    checkTarget: (record) => checkRole(record, request.roleArn),
    audit: { role: request.roleArn },
    key: [
      request.roleArn,
      request.roleSessionName,
      String(request.durationSeconds ?? ''),
      request.policy ?? '',
      request.policyArns.join('\n'),
      request.providerId ?? '',
    ],
    upstream: {
      endpoint: 'assumeRoleWithWebIdentity',
      url: `${stsUrl}/`,
      contentType: 'application/x-www-form-urlencoded; charset=utf-8',
      body: upstreamAssumeRoleForm(request),
      format: AWS_XML,
    },
    expiresAt: (answer) => credentialsExpiry(answer.json),
    fromCache: (cached) => ({
      status: 200,
      headers: { ...AWS_XML_HEADERS, 'content-type': cached.contentType },
      body: cached.body,
    }),
  };
}

/** The `Expiration` of an AssumeRoleWithWebIdentityResponse's credentials, epoch seconds. */
function credentialsExpiry(document: Record<string, unknown>): number | null {
  const credentials = (
    document.AssumeRoleWithWebIdentityResponse as
      { AssumeRoleWithWebIdentityResult?: { Credentials?: Record<string, unknown> } } | undefined
  )?.AssumeRoleWithWebIdentityResult?.Credentials;
  if (typeof credentials?.AccessKeyId !== 'string' || typeof credentials.Expiration !== 'string')
    return null;
  const expiration = Date.parse(credentials.Expiration);
  return Number.isFinite(expiration) ? Math.floor(expiration / 1000) : null;
}
