import { z } from 'zod';
import { IdbridgeError } from '../errors.js';
import { zodDetails } from '../errors/zod.js';
import { JWKS_PATH } from './paths.js';
import { byteLength, type PublicJwk } from './jwks.js';
import { MAX_DOCUMENT_BYTES } from './limits.js';

/** The discovery document exactly as kube-apiserver serves it (and as idbridge republishes it). */
export interface DiscoveryDocument {
  issuer: string;
  jwks_uri: string;
  response_types_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
}

const url = z
  .string()
  .max(2048)
  .refine((value) => URL.canParse(value), 'must be an absolute URL');

/** What a kube-apiserver's /.well-known/openid-configuration must contain. */
export const discoverySchema = z.looseObject({
  issuer: url,
  jwks_uri: url,
  response_types_supported: z.array(z.string().max(64)).max(16),
  subject_types_supported: z.array(z.string().max(64)).max(16),
  id_token_signing_alg_values_supported: z.array(z.string().max(16)).max(16),
});

/** The JWKS location that belongs to an issuer: idbridge (and kube-apiserver) serve it here. */
export function jwksUriFor(issuer: string): string {
  return `${issuer}${JWKS_PATH}`;
}

/** One thing the discovery judge found, in the shape every caller reports (refusal details, doctor checks). */
export interface DiscoveryFinding {
  /** Dotted path inside the document ('' for the document itself). */
  path: string;
  message: string;
  severity: 'error' | 'warning';
  /**
   * Which rule: `size` (over the limit), `required` (no usable issuer or jwks_uri), `shape` (not
   * kube-apiserver's document), `issuer` (not one of the issuers expected, byte for byte).
   */
  rule: 'size' | 'required' | 'shape' | 'issuer';
}

export interface DiscoveryJudgement {
  findings: DiscoveryFinding[];
  /** The document, when it is shaped like kube-apiserver's. */
  document?: DiscoveryDocument;
  /** The `issuer` it names, when that is an absolute URL (judged even if the rest is misshapen). */
  issuer?: string;
}

export interface DiscoveryExpectations {
  /** The issuers the document may name, byte for byte (Google STS compares them that way). */
  issuers?: readonly string[];
  /** Refuse documents whose JSON is larger than this. */
  maxBytes?: number;
}

/**
 * The one discovery judge: the API (pushes), sync (before pushing), the edge (origin answers) and
 * doctor all judge a discovery document here. It reports every finding; the first three refuse on
 * any error, doctor reports them all.
 */
export function judgeDiscovery(
  input: unknown,
  expect: DiscoveryExpectations = {},
): DiscoveryJudgement {
  if (expect.maxBytes !== undefined && byteLength(JSON.stringify(input) ?? '') > expect.maxBytes) {
    return {
      findings: [
        {
          path: '',
          rule: 'size',
          severity: 'error',
          message: `the discovery document is larger than ${expect.maxBytes / 1024} KiB`,
        },
      ],
    };
  }
  const findings: DiscoveryFinding[] = [];
  const object =
    typeof input === 'object' && input !== null && !Array.isArray(input)
      ? (input as Record<string, unknown>)
      : {};
  for (const name of ['issuer', 'jwks_uri'] as const) {
    const value = object[name];
    if (typeof value !== 'string' || !URL.canParse(value))
      findings.push({
        path: name,
        rule: 'required',
        severity: 'error',
        message: `no valid ${name}`,
      });
  }
  const parsed = discoverySchema.safeParse(input);
  if (!parsed.success) {
    for (const { path, message } of zodDetails(parsed.error))
      findings.push({ path, rule: 'shape', severity: 'error', message });
  }
  const issuer =
    typeof object.issuer === 'string' && URL.canParse(object.issuer) ? object.issuer : undefined;
  if (issuer !== undefined && expect.issuers !== undefined && !expect.issuers.includes(issuer)) {
    findings.push({
      path: 'issuer',
      rule: 'issuer',
      severity: 'error',
      message: `issuer ${JSON.stringify(issuer.slice(0, 200))} is not ${expect.issuers.map((i) => JSON.stringify(i)).join(' or ')}`,
    });
  }
  return {
    findings,
    ...(parsed.success ? { document: parsed.data } : {}),
    ...(issuer !== undefined ? { issuer } : {}),
  };
}

/** The findings of one rule. */
export function findingsOf(
  judgement: DiscoveryJudgement,
  rule: DiscoveryFinding['rule'],
): DiscoveryFinding[] {
  return judgement.findings.filter((finding) => finding.rule === rule);
}

/**
 * Checks a discovery document a cluster pushed. Its `issuer` is never trusted: it must equal the
 * issuer registered for the cluster, byte for byte, because Google STS compares them that way.
 */
export function checkPushedDiscovery(input: unknown, registeredIssuer: string): DiscoveryDocument {
  const judged = judgeDiscovery(input, {
    issuers: [registeredIssuer],
    maxBytes: MAX_DOCUMENT_BYTES,
  });
  if (findingsOf(judged, 'size').length > 0) {
    throw new IdbridgeError(
      'payload_too_large',
      `the discovery document is larger than ${MAX_DOCUMENT_BYTES / 1024} KiB; send the cluster's /.well-known/openid-configuration unchanged`,
    );
  }
  const shape = findingsOf(judged, 'shape');
  if (!judged.document) {
    throw new IdbridgeError(
      'invalid_discovery',
      "the discovery document is not an OpenID provider configuration; send the body of the cluster's /.well-known/openid-configuration unchanged",
      shape.map(({ path, message }) => ({ path, message })),
    );
  }
  if (findingsOf(judged, 'issuer').length > 0)
    throw issuerMismatch(judged.document.issuer, registeredIssuer);
  return judged.document;
}

export function issuerMismatch(actual: string, registered: string): IdbridgeError {
  const hint =
    actual.replace(/\/+$/, '') === registered
      ? ' (they differ only by a trailing slash, which is enough for Google STS to refuse every token)'
      : '';
  return new IdbridgeError(
    'issuer_mismatch',
    `the cluster's issuer is ${JSON.stringify(actual)} but it is registered as ${JSON.stringify(registered)}${hint}: ` +
      `start the kube-apiserver with --service-account-issuer=${registered} as its first issuer flag ` +
      `(and --service-account-jwks-uri=${jwksUriFor(registered)})`,
  );
}

/** The discovery document idbridge publishes for a cluster, computed from its registered issuer. */
export function buildDiscovery(issuer: string, keys: readonly PublicJwk[]): DiscoveryDocument {
  const algorithms = [...new Set(keys.map((key) => key.alg))].sort();
  return {
    issuer,
    jwks_uri: jwksUriFor(issuer),
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: algorithms.length > 0 ? algorithms : ['RS256'],
  };
}
