import { transportOf } from '../net/loopback.js';
import { fail, pass, warn, type Check } from '../report/report.js';
import { DISCOVERY_PATH } from '../oidc/paths.js';

/**
 * Where a verifier looks for the discovery document of `issuer` (OpenID Connect Discovery §4:
 * a terminating "/" of the issuer is removed before the well-known path is appended).
 */
export function discoveryUrlFor(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}${DISCOVERY_PATH}`;
}

/**
 * Says in words how two issuer strings differ. Google STS compares them byte for byte, so the
 * difference itself (a slash, a host, a path) is what the operator needs to see.
 */
export function describeIssuerDifference(expected: string, actual: string): string {
  if (actual === `${expected}/`)
    return `${JSON.stringify(actual)} has a trailing slash that ${JSON.stringify(expected)} lacks`;
  if (expected === `${actual}/`)
    return `${JSON.stringify(actual)} lacks the trailing slash of ${JSON.stringify(expected)}`;
  if (!URL.canParse(expected) || !URL.canParse(actual))
    return `${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`;
  const a = new URL(expected);
  const b = new URL(actual);
  if (a.protocol !== b.protocol)
    return `the scheme differs: ${b.protocol.slice(0, -1)} instead of ${a.protocol.slice(0, -1)}`;
  if (a.host !== b.host)
    return `the host differs: ${JSON.stringify(b.host)} instead of ${JSON.stringify(a.host)}`;
  if (a.pathname !== b.pathname)
    return `the path differs: ${JSON.stringify(b.pathname)} instead of ${JSON.stringify(a.pathname)}`;
  return `${JSON.stringify(actual)} differs from ${JSON.stringify(expected)} in spelling (case, a default port or percent-encoding), which is enough for an exact comparison to fail`;
}

/** The issuer URL itself: absolute, HTTPS (plain HTTP only on loopback), no query or fragment. */
export function checkIssuerUrl(issuer: string): Check {
  const id = 'issuer.url';
  const transport = transportOf(issuer);
  if (transport.kind === 'invalid') {
    return fail(
      id,
      transport.reason,
      "give the issuer URL exactly as the kube-apiserver's --service-account-issuer flag, e.g. https://issuer.example.com/my-cluster",
    );
  }
  const url = new URL(issuer);
  if (url.search || url.hash || url.username || url.password) {
    return fail(
      id,
      'the issuer has a query, fragment or credentials',
      "an OIDC issuer is a plain https URL with an optional path; use the kube-apiserver's --service-account-issuer value",
    );
  }
  if (transport.kind === 'plain-http') {
    return warn(
      id,
      `${issuer} is plain HTTP on a non-loopback host`,
      `Google STS fetches issuer documents over HTTPS only, and ${KUBE_NEEDS_HTTPS}: publish the issuer at an https:// URL (the idbridge edge, or idbridge serve --tls-cert-file/--tls-key-file)`,
      { details: ['scheme: http (not https)'] },
    );
  }
  if (url.pathname.length > 1 && url.pathname.endsWith('/')) {
    return warn(
      id,
      `${issuer} ends with "/"`,
      "legal only if the token's iss, the discovery document and the provider's --issuer-uri all carry the same slash; kube-apiserver and idbridge issuers normally have none — drop it everywhere",
    );
  }
  if (transport.kind === 'https')
    return pass(id, `${issuer} uses HTTPS`, {
      details: ['scheme: https, as Google STS and kube-apiserver require'],
    });
  return pass(id, `${issuer} is plain HTTP on loopback (local testing only; Google needs HTTPS)`, {
    details: [
      `scheme: http (not https): ${KUBE_NEEDS_HTTPS}; for a real cluster run idbridge serve --tls=local, or publish at the edge`,
    ],
  });
}

/** What a real kube-apiserver does with an http:// issuer (issue #11): it signs tokens but serves no discovery. */
export const KUBE_NEEDS_HTTPS =
  'kube-apiserver answers 404 on discovery for an http:// --service-account-issuer and refuses to start with an http:// --service-account-jwks-uri';
