import { decodeJwt, decodeProtectedHeader } from 'jose';
import { GOOGLE_RULES, tokenAudiences } from '../verify/google-rules.js';
import { CONVENTIONS } from '../webhook/conventions.js';
import { fail, pass, skip, type Check } from '../report/report.js';
import { describeIssuerDifference } from './issuer-url.js';
import { impliedAlgorithm } from './jwks-checks.js';

/**
 * `doctor --cloud aws|azure`: the issuer and a token judged by AWS STS's or Entra ID's own rules,
 * beside the checks every verifier shares (discovery, JWKS, iss, kid, signature, expiry). The
 * Google-only checks (its two algorithms, its 48 h lifetime, its audience and subject rules)
 * give way to these.
 */
export type DoctorCloud = 'gcp' | 'aws' | 'azure';
export const DOCTOR_CLOUDS: readonly DoctorCloud[] = ['gcp', 'aws', 'azure'];

/** Checks that state a Google rule only: left out when another cloud is asked about. */
export const GOOGLE_ONLY_CHECKS: readonly string[] = [
  'jwks.algorithms',
  'token.alg',
  'token.lifetime',
  'token.aud',
  'token.subject',
];

/** What AWS STS's AssumeRoleWithWebIdentity accepts from an OIDC provider. */
export const AWS_STS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'];
const SUBJECT =
  /^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export interface CloudCheckInput {
  issuer: string;
  /** The JWKS keys as served, when they could be fetched. */
  keys?: Record<string, unknown>[];
  token?: string;
  /** The audiences the cloud side accepts; default: the cloud's (sts.amazonaws.com, api://AzureADTokenExchange). */
  audiences?: readonly string[];
  now: number;
}

function decode(token: string) {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    return undefined;
  }
}

export function cloudChecks(cloud: 'aws' | 'azure', input: CloudCheckInput): Check[] {
  const name = cloud === 'aws' ? 'AWS IAM' : 'Entra ID';
  const checks: Check[] = [];
  const https = input.issuer.startsWith('https://');
  checks.push(
    https
      ? pass(`${cloud}.https`, `${name} fetches the issuer over HTTPS, which it is`)
      : fail(
          `${cloud}.https`,
          `${input.issuer} is not https://, and ${name} accepts only https issuers`,
          'publish the issuer at an https:// URL (the idbridge edge, or idbridge serve with a certificate) and give kube-apiserver that --service-account-issuer',
        ),
  );
  if (cloud === 'aws') {
    if (!input.keys)
      checks.push(skip('aws.algorithms', 'not checked: the JWKS could not be fetched'));
    else {
      const refused = input.keys
        .map((key) => ({
          kid: String(key.kid ?? ''),
          alg: String(key.alg ?? impliedAlgorithm(key) ?? ''),
        }))
        .filter((key) => !AWS_STS_ALGORITHMS.includes(key.alg));
      checks.push(
        refused.length === 0
          ? pass(
              'aws.algorithms',
              `every key signs ${AWS_STS_ALGORITHMS.join(', ')} (what STS accepts)`,
            )
          : fail(
              'aws.algorithms',
              'keys sign with algorithms AWS STS refuses',
              `give the kube-apiserver an RSA (RS256) or EC P-256/P-384/P-521 --service-account-signing-key-file; STS accepts ${AWS_STS_ALGORITHMS.join(', ')}`,
              {
                details: refused.map(
                  (key) => `kid ${JSON.stringify(key.kid.slice(0, 64))}: ${key.alg || 'no alg'}`,
                ),
              },
            ),
      );
    }
  }
  if (input.token === undefined) return checks;
  const decoded = decode(input.token.trim());
  if (!decoded) return [...checks, skip(`${cloud}.token`, 'not checked: the token cannot be read')];
  const { header, payload } = decoded;
  const claims = payload as Record<string, unknown>;
  const context = { issuer: input.issuer, now: Math.floor(input.now / 1000), skewSeconds: 60 };

  if (cloud === 'aws') {
    const alg = String(header.alg);
    checks.push(
      AWS_STS_ALGORITHMS.includes(alg)
        ? pass('aws.alg', `signed ${alg}, which STS accepts`)
        : fail(
            'aws.alg',
            `signed ${alg}, which STS refuses`,
            `sign with one of ${AWS_STS_ALGORITHMS.join(', ')}`,
          ),
    );
  } else {
    // Entra ID compares the federated credential's issuer with iss exactly: the same rule as Google's.
    const iss = GOOGLE_RULES.iss(claims, header, context);
    checks.push(
      !iss
        ? pass('azure.issuer', `iss ${JSON.stringify(payload.iss)} is the issuer byte for byte`)
        : fail(
            'azure.issuer',
            typeof payload.iss === 'string'
              ? `iss is ${JSON.stringify(payload.iss)}: ${describeIssuerDifference(input.issuer, payload.iss)}`
              : 'the token has no iss',
            `the federated credential's --issuer must be exactly the token's iss and the discovery issuer (${input.issuer}), trailing slash included: az identity federated-credential update --issuer ${input.issuer}, or fix --service-account-issuer`,
          ),
    );
    const sub = typeof payload.sub === 'string' ? payload.sub : '';
    checks.push(
      SUBJECT.test(sub)
        ? pass('azure.subject', `sub ${sub} is the form the federated credential's --subject takes`)
        : fail(
            'azure.subject',
            `sub ${JSON.stringify(sub.slice(0, 120))} is not system:serviceaccount:NAMESPACE:NAME`,
            "use a projected ServiceAccount token (the webhook's azure-identity-token), whose sub is system:serviceaccount:NAMESPACE:NAME, and give exactly that as --subject",
          ),
    );
  }
  const accepted = input.audiences?.length ? input.audiences : [CONVENTIONS[cloud].defaultAudience];
  const aud = GOOGLE_RULES.aud(claims, header, { ...context, audiences: accepted });
  checks.push(
    !aud
      ? pass(
          `${cloud}.aud`,
          `aud ${JSON.stringify(tokenAudiences(claims))} includes ${accepted.join(' or ')}`,
        )
      : fail(
          `${cloud}.aud`,
          `aud ${JSON.stringify(tokenAudiences(claims)).slice(0, 200)} lacks ${accepted.join(' or ')}`,
          cloud === 'aws'
            ? `set the projected token's audience to the OIDC provider's client id (eks.amazonaws.com/audience, default ${CONVENTIONS.aws.defaultAudience}), or add the token's audience: aws iam add-client-id-to-open-id-connect-provider`
            : `the token must carry the federated credential's audience (${CONVENTIONS.azure.defaultAudience} by default, what the webhook's azure-identity-token carries)`,
        ),
  );
  return checks;
}
