import { z } from 'zod';
import { zodDetails } from '../errors/zod.js';
import { MAX_TOKEN_BYTES } from '../verify/subject-token.js';
import { BrokerError } from './google-errors.js';

/**
 * AWS STS `AssumeRoleWithWebIdentity` as the Query API carries it (what the AWS SDKs and the CLI
 * send): a form-encoded POST with `Action`, `Version` and the operation's parameters, unsigned.
 */
export const AWS_STS_VERSION = '2011-06-15';
export const ASSUME_ROLE_WITH_WEB_IDENTITY = 'AssumeRoleWithWebIdentity';

export interface AssumeRoleRequest {
  roleArn: string;
  roleSessionName: string;
  webIdentityToken: string;
  durationSeconds?: number;
  policy?: string;
  policyArns: string[];
  providerId?: string;
}

/** IAM's own rules for the parameters (the STS API reference's length and pattern constraints). */
const ROLE_ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const POLICY_ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::(\d{12}|aws):policy\/[\w+=,.@/-]{1,512}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const MAX_POLICY_ARNS = 10;

const parametersSchema = z.object({
  RoleArn: z
    .string()
    .min(20)
    .max(2048)
    .regex(ROLE_ARN, 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/app'),
  RoleSessionName: z
    .string()
    .regex(SESSION_NAME, 'must be 2-64 characters of letters, digits and _+=,.@-'),
  WebIdentityToken: z
    .string()
    .min(4)
    .max(
      MAX_TOKEN_BYTES,
      `is larger than ${MAX_TOKEN_BYTES / 1024} KiB; a projected ServiceAccount token is about 1 KiB`,
    ),
  DurationSeconds: z
    .string()
    .regex(/^\d{3,5}$/, 'must be a whole number of seconds between 900 and 43200')
    .transform(Number)
    .refine((n) => n >= 900 && n <= 43_200, 'must be between 900 and 43200 seconds')
    .optional(),
  Policy: z.string().min(1).max(10_240).optional(),
  ProviderId: z.string().min(4).max(2048).optional(),
});

const KNOWN = new Set([
  'Action',
  'Version',
  'RoleArn',
  'RoleSessionName',
  'WebIdentityToken',
  'DurationSeconds',
  'Policy',
  'ProviderId',
]);
const POLICY_ARN_FIELD = /^PolicyArns\.member\.(\d{1,2})\.arn$/;

/** The Query API's `Action` of a form body, before anything else is read (to answer other actions plainly). */
export function parseAssumeRoleRequest(contentType: string, body: string): AssumeRoleRequest {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new BrokerError(
      'unsupported_media_type',
      `Content-Type ${JSON.stringify(contentType.slice(0, 60))} is not accepted; the STS Query API takes application/x-www-form-urlencoded (what the AWS SDKs send)`,
    );
  }
  const fields: Record<string, string> = {};
  const policyArns = new Map<number, string>();
  for (const [name, value] of new URLSearchParams(body)) {
    const member = POLICY_ARN_FIELD.exec(name);
    if (!member && !KNOWN.has(name)) {
      throw new BrokerError(
        'invalid_request',
        `Unknown parameter ${JSON.stringify(name.slice(0, 40))}; AssumeRoleWithWebIdentity takes RoleArn, RoleSessionName, WebIdentityToken, DurationSeconds, Policy, PolicyArns.member.N.arn and ProviderId`,
      );
    }
    if ((member && policyArns.has(Number(member[1]))) || fields[name] !== undefined)
      throw new BrokerError(
        'invalid_request',
        `Parameter ${JSON.stringify(name)} is given more than once; send it once`,
      );
    if (member) policyArns.set(Number(member[1]), value);
    else fields[name] = value;
  }
  if (fields.Action === undefined)
    throw new BrokerError(
      'invalid_request',
      'Missing parameter "Action": send Action=AssumeRoleWithWebIdentity&Version=2011-06-15',
    );
  if (fields.Action !== ASSUME_ROLE_WITH_WEB_IDENTITY) {
    throw new BrokerError(
      'unsupported_grant_type',
      `Could not find operation ${JSON.stringify(fields.Action.slice(0, 60))} for version ${JSON.stringify((fields.Version ?? '').slice(0, 20))}: this broker answers AssumeRoleWithWebIdentity only (other STS calls are signed for AWS's own host and go to AWS STS directly)`,
    );
  }
  if (fields.Version !== AWS_STS_VERSION)
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "Version": the STS Query API version is ${AWS_STS_VERSION}`,
    );
  const parsed = parametersSchema.safeParse(fields);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'body');
    throw new BrokerError(
      'invalid_request',
      fields[name] === undefined
        ? `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null; send ${name}`
        : `1 validation error detected: Value at '${lowerFirst(name)}' failed to satisfy constraint: ${name} ${zodDetails(parsed.error, { limit: 1 })[0]!.message}`,
    );
  }
  if (policyArns.size > MAX_POLICY_ARNS)
    throw new BrokerError(
      'invalid_request',
      `1 validation error detected: 'policyArns' has ${policyArns.size} members; at most ${MAX_POLICY_ARNS}`,
    );
  const arns = [...policyArns.entries()].sort(([a], [b]) => a - b).map(([, arn]) => arn);
  const badArn = arns.find((arn) => arn.length > 2048 || !POLICY_ARN.test(arn));
  if (badArn !== undefined)
    throw new BrokerError(
      'invalid_request',
      `1 validation error detected: ${JSON.stringify(badArn.slice(0, 80))} in 'policyArns' is not an IAM policy ARN such as arn:aws:iam::aws:policy/ReadOnlyAccess`,
    );
  const p = parsed.data;
  return {
    roleArn: p.RoleArn,
    roleSessionName: p.RoleSessionName,
    webIdentityToken: p.WebIdentityToken,
    ...(p.DurationSeconds !== undefined ? { durationSeconds: p.DurationSeconds } : {}),
    ...(p.Policy !== undefined ? { policy: p.Policy } : {}),
    policyArns: arns,
    ...(p.ProviderId !== undefined ? { providerId: p.ProviderId } : {}),
  };
}

/** The request as the AWS SDKs send it, for the upstream STS. */
export function upstreamAssumeRoleForm(request: AssumeRoleRequest): string {
  const form = new URLSearchParams({
    Action: ASSUME_ROLE_WITH_WEB_IDENTITY,
    Version: AWS_STS_VERSION,
    RoleArn: request.roleArn,
    RoleSessionName: request.roleSessionName,
    WebIdentityToken: request.webIdentityToken,
  });
  if (request.durationSeconds !== undefined)
    form.set('DurationSeconds', String(request.durationSeconds));
  if (request.policy !== undefined) form.set('Policy', request.policy);
  request.policyArns.forEach((arn, i) => form.set(`PolicyArns.member.${i + 1}.arn`, arn));
  if (request.providerId !== undefined) form.set('ProviderId', request.providerId);
  return form.toString();
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
