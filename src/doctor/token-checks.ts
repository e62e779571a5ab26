import {
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';
import {
  defaultAudiences,
  GOOGLE_SUBJECT_MAX_BYTES,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import { byteLength } from '../oidc/jwks.js';
import { kubernetesClaims } from '../verify/kube-claims.js';
import { judgeToken } from '../verify/google-rules.js';
import { fail, pass, skip, warn, type Check } from '../report/report.js';
import { describeIssuerDifference } from './issuer-url.js';
import { impliedAlgorithm } from './jwks-checks.js';

/** Clock difference tolerated before a future iat is a failure rather than a warning. */
export const IAT_SKEW_TOLERANCE_SECONDS = 60;

export interface TokenCheckInput {
  token: string;
  /** The issuer the token must carry, byte for byte. */
  issuer: string;
  /** The JWKS keys as served at jwks_uri; absent when they could not be fetched. */
  keys?: Record<string, unknown>[];
  provider?: WorkloadIdentityProvider;
  /** The provider's allowed audiences, when it has a custom list; default: its resource name. */
  allowedAudiences?: string[];
  /** Epoch milliseconds. */
  now: number;
}

/** The audiences a provider accepts: its allowed list, or its resource name with either prefix. */
export function acceptedAudiences(
  provider: WorkloadIdentityProvider,
  allowed?: readonly string[],
): string[] {
  if (allowed && allowed.length > 0) return [...allowed];
  return defaultAudiences(provider);
}

export function audiencesOf(payload: JWTPayload): string[] {
  return typeof payload.aud === 'string'
    ? [payload.aud]
    : Array.isArray(payload.aud)
      ? payload.aud.filter((a): a is string => typeof a === 'string')
      : [];
}

/** Why a token's audiences miss the provider, in the terms of the mistake most likely made. */
export function diagnoseAudience(
  audiences: readonly string[],
  provider: WorkloadIdentityProvider,
): string {
  const other = audiences
    .map(
      (aud) =>
        /^(?:https:)?\/\/iam\.googleapis\.com\/(projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/]+\/providers\/[^/]+)$/.exec(
          aud,
        )?.[1],
    )
    .find(Boolean);
  if (audiences.includes(provider.path))
    return `the audience ${JSON.stringify(provider.path)} lacks the "//iam.googleapis.com/" prefix Google expects`;
  if (other && /^projects\/[^/\d][^/]*\//.test(other))
    return `the audience names the project by id (${other.split('/')[1]}); Google expects the project NUMBER (${provider.projectNumber})`;
  if (other) return `the token was issued for provider ${other}, not ${provider.path}`;
  if (
    audiences.some(
      (aud) =>
        /^https:\/\/kubernetes\.default\.svc/.test(aud) ||
        aud === 'api' ||
        aud === 'https://kubernetes.default.svc',
    )
  ) {
    return "the token carries the kube-apiserver's own audience: the projected volume sets no audience (or this is the pod's default API token)";
  }
  return `none of ${JSON.stringify(audiences)} is accepted`;
}

function decode(
  token: string,
): { header: ProtectedHeaderParameters; payload: JWTPayload } | undefined {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    return undefined;
  }
}

function ago(seconds: number): string {
  const s = Math.abs(seconds);
  const text =
    s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  return seconds >= 0 ? `${text} ago` : `in ${text}`;
}

const TOKEN_CHECK_IDS = [
  'token.iss',
  'token.alg',
  'token.kid',
  'token.signature',
  'token.lifetime',
  'token.iat',
  'token.exp',
  'token.aud',
  'token.subject',
];

/**
 * What Google STS will check in a projected ServiceAccount token, reported one check at a time
 * so the first thing wrong is named (a verifier stops at the first failure and says less).
 */
export async function checkToken(input: TokenCheckInput): Promise<Check[]> {
  const decoded = decode(input.token.trim());
  if (!decoded) {
    return [
      fail(
        'token.format',
        'the file is not a compact JWT (header.payload.signature)',
        'pass the projected ServiceAccount token file itself (e.g. /var/run/secrets/…/token), or kubectl create token SA --audience=AUD',
      ),
      ...TOKEN_CHECK_IDS.map((id) => skip(id, 'not checked: the token cannot be read')),
    ];
  }
  const { header, payload } = decoded;
  const checks: Check[] = [
    pass(
      'token.format',
      `a JWT signed ${String(header.alg)} with kid ${JSON.stringify(header.kid ?? '')}`,
    ),
  ];
  const now = Math.floor(input.now / 1000);
  // Every Google rule judged at once (doctor's driver); the words and fixes below are doctor's.
  const accepted = input.provider
    ? acceptedAudiences(input.provider, input.allowedAudiences)
    : undefined;
  const judged = judgeToken(payload as Record<string, unknown>, header as Record<string, unknown>, {
    issuer: input.issuer,
    now,
    skewSeconds: IAT_SKEW_TOLERANCE_SECONDS,
    ...(accepted ? { audiences: accepted } : {}),
  });

  // iss
  if (!judged.iss) checks.push(pass('token.iss', `iss is ${JSON.stringify(payload.iss)}`));
  else if (typeof payload.iss !== 'string')
    checks.push(
      fail(
        'token.iss',
        'the token has no iss claim',
        'this is not a Kubernetes ServiceAccount token',
      ),
    );
  else {
    checks.push(
      fail(
        'token.iss',
        `iss is ${JSON.stringify(payload.iss)}: ${describeIssuerDifference(input.issuer, payload.iss)}`,
        `the kube-apiserver writes its first --service-account-issuer into iss: start it with --service-account-issuer=${input.issuer} as the first issuer flag (keep the old value as a second flag until old tokens expire), or check the issuer given to doctor`,
      ),
    );
  }

  // alg
  const alg = String(header.alg);
  if (!judged.alg) checks.push(pass('token.alg', `signed ${alg}, which Google accepts`));
  else {
    checks.push(
      fail(
        'token.alg',
        `signed ${alg}, which Google STS refuses (RS256 and ES256 only)`,
        alg.startsWith('ES')
          ? `the kube-apiserver signs with an EC ${alg === 'ES384' ? 'P-384' : 'P-521'} key: give it an RSA 2048+ or EC P-256 --service-account-signing-key-file (publish the new public key first)`
          : 'give the kube-apiserver an RSA 2048+ or EC P-256 --service-account-signing-key-file',
      ),
    );
  }

  // kid and signature
  const key = input.keys?.find((candidate) => candidate.kid === header.kid);
  if (!input.keys) {
    checks.push(
      skip('token.kid', 'not checked: the JWKS could not be fetched'),
      skip('token.signature', 'not checked: the JWKS could not be fetched'),
    );
  } else if (!key) {
    checks.push(
      fail(
        'token.kid',
        `kid ${JSON.stringify(header.kid ?? '')} is not in the published JWKS`,
        'the kube-apiserver signs with a key that is not published: publish it (idbridge sync, or idbridge clusters update ID --jwks FILE) and wait for Google to refetch (minutes) — always publish a new key before switching --service-account-signing-key-file',
      ),
    );
    checks.push(skip('token.signature', 'not checked: no published key has this kid'));
  } else {
    checks.push(pass('token.kid', `kid ${JSON.stringify(header.kid)} is published`));
    try {
      const verifyAlg = impliedAlgorithm(key) ?? alg;
      await compactVerify(
        input.token.trim(),
        await importJWK(key as Parameters<typeof importJWK>[0], verifyAlg),
        { algorithms: [verifyAlg] },
      );
      checks.push(pass('token.signature', 'the signature verifies with the published key'));
    } catch {
      checks.push(
        fail(
          'token.signature',
          `the signature does not verify with the published key ${JSON.stringify(header.kid)}`,
          'the published key with this kid is not the one that signed the token: republish the JWKS from the cluster (kubectl get --raw /openid/v1/jwks) — keys were edited, or two clusters share a kid',
        ),
      );
    }
  }

  // lifetime, iat, exp
  const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
  const exp = typeof payload.exp === 'number' ? payload.exp : undefined;
  if (judged.lifetime?.failure === 'malformed' || iat === undefined || exp === undefined) {
    checks.push(
      fail(
        'token.lifetime',
        'the token lacks iat or exp',
        'Google requires both; kube-apiserver always sets them — this is not a projected ServiceAccount token',
      ),
    );
  } else if (judged.lifetime) {
    checks.push(
      fail(
        'token.lifetime',
        `valid for ${((exp - iat) / 3600).toFixed(1)} h; Google requires less than 48 h`,
        'set expirationSeconds of the projected serviceAccountToken volume to 3600 (kubelet refreshes it) and check --service-account-max-token-expiration',
      ),
    );
  } else {
    checks.push(
      pass('token.lifetime', `valid for ${Math.round((exp - iat) / 60)} min (under Google's 48 h)`),
    );
  }
  if (iat !== undefined) {
    const skew = iat - now;
    if (judged.iat?.severity === 'error') {
      checks.push(
        fail(
          'token.iat',
          `issued ${skew} s in the future (clock skew ${skew} s)`,
          "Google refuses tokens issued in the future: synchronise the clocks (NTP) of the cluster's control plane and of this machine",
        ),
      );
    } else if (judged.iat) {
      checks.push(
        warn(
          'token.iat',
          `issued ${skew} s in the future (clock skew ${skew} s)`,
          'Google requires iat in the past: synchronise the clocks (NTP) of the control plane and this machine',
        ),
      );
    } else {
      checks.push(pass('token.iat', `issued ${ago(-skew)}`));
    }
  } else {
    checks.push(skip('token.iat', 'not checked: no iat'));
  }
  if (exp === undefined) checks.push(skip('token.exp', 'not checked: no exp'));
  else if (judged.exp) {
    checks.push(
      fail(
        'token.exp',
        `expired ${ago(now - exp)}`,
        'use a fresh token: kubelet rewrites the projected file before it expires — read it again rather than copying it once',
      ),
    );
  } else {
    checks.push(pass('token.exp', `expires ${ago(now - exp)}`));
  }

  // aud
  const audiences = audiencesOf(payload);
  if (!input.provider) {
    checks.push(
      skip(
        'token.aud',
        `aud ${JSON.stringify(audiences)}; pass --provider projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER to check it`,
      ),
    );
  } else {
    const match = audiences.find((aud) => accepted!.includes(aud));
    if (!judged.aud && match) {
      checks.push(
        pass(
          'token.aud',
          `aud ${JSON.stringify(match)} is accepted by the provider${input.allowedAudiences?.length ? ' (allowed audiences)' : ' (its default audience)'}`,
        ),
      );
    } else {
      checks.push(
        fail(
          'token.aud',
          `aud ${JSON.stringify(audiences)} is not accepted: ${diagnoseAudience(audiences, input.provider)}`,
          `by default a provider accepts only its own resource name: set the projected volume's audience to ${input.provider.audience}` +
            " — or add the token's audience to the provider with gcloud iam workload-identity-pools providers update-oidc … --allowed-audiences=AUDIENCE",
          { details: [`accepted: ${accepted!.join(', ')}`] },
        ),
      );
    }
  }

  // subject (what google.subject=assertion.sub maps)
  const kube = kubernetesClaims(payload);
  const sub = typeof payload.sub === 'string' ? payload.sub : '';
  const who = [
    kube.namespace && `namespace ${kube.namespace}`,
    kube.serviceAccount && `ServiceAccount ${kube.serviceAccount}`,
    kube.pod && `pod ${kube.pod}`,
  ]
    .filter(Boolean)
    .join(', ');
  if (judged.subject_length?.failure === 'malformed')
    checks.push(
      fail(
        'token.subject',
        'the token has no sub',
        'google.subject=assertion.sub needs it; this is not a ServiceAccount token',
      ),
    );
  else if (judged.subject_length) {
    checks.push(
      fail(
        'token.subject',
        `sub is ${byteLength(sub)} bytes, over Google's ${GOOGLE_SUBJECT_MAX_BYTES}-byte limit for google.subject`,
        "use a shorter namespace or ServiceAccount name, or map google.subject from shorter claims (e.g. the ServiceAccount uid: assertion['kubernetes.io']['serviceaccount']['uid'])",
      ),
    );
  } else checks.push(pass('token.subject', `sub ${sub}${who ? ` (${who})` : ''}`));
  return checks;
}
