import { findingsOf, judgeDiscovery } from '../oidc/discovery.js';
import { transportOf } from '../net/loopback.js';
import { fail, pass, warn, type Check } from '../report/report.js';
import { checkCacheHeaders } from './cache.js';
import type { FetchResult } from './fetch-document.js';
import { describeIssuerDifference } from './issuer-url.js';
import { describeIssue } from '../errors/zod.js';

export interface DiscoveryFindings {
  checks: Check[];
  /** The jwks_uri to fetch next, when the document was usable. */
  jwksUri?: string;
}

/** Checks an HTTP answer for reachability, status and redirects; returns the body when usable. */
export function checkFetched(
  prefix: string,
  what: string,
  result: FetchResult,
): { checks: Check[]; body?: string; headers?: Record<string, string> } {
  const id = `${prefix}.fetch`;
  if (!result.ok) {
    return {
      checks: [
        fail(
          id,
          `GET ${result.url}: ${result.error}`,
          `${what} must be reachable from the internet at this URL (Google fetches it from its own network); check DNS, firewall and TLS`,
          { ms: result.ms },
        ),
      ],
    };
  }
  const { doc } = result;
  const timing = { ms: doc.ms };
  if (doc.status !== 200) {
    const hint =
      doc.status === 404
        ? 'nothing is published at this path: check the cluster id in the URL, that the cluster is registered (idbridge clusters get ID) and that it has keys'
        : `the server answered ${doc.status}; ${what} must be served with 200 to anonymous GET requests`;
    return { checks: [fail(id, `GET ${doc.url} answered HTTP ${doc.status}`, hint, timing)] };
  }
  if (doc.truncated) {
    return {
      checks: [
        fail(
          id,
          `GET ${doc.url} returned more than 64 KiB`,
          `this is not ${what}: check the URL`,
          timing,
        ),
      ],
    };
  }
  const checks: Check[] = [];
  if (doc.redirects.length > 0) {
    checks.push(
      warn(
        id,
        `GET ${doc.url} was redirected to ${doc.redirects.at(-1)}`,
        `serve ${what} at the URL itself: verifiers are not required to follow redirects, and the issuer must match the URL it is fetched from`,
        timing,
      ),
    );
  } else {
    checks.push(pass(id, `GET ${doc.url} answered 200`, timing));
  }
  return { checks, body: doc.body, headers: doc.headers };
}

export function checkContentType(
  id: string,
  what: string,
  headers: Record<string, string>,
  accepted: readonly string[],
): Check {
  const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (accepted.includes(type)) return pass(id, `${what} is served as ${type}`);
  return warn(
    id,
    `${what} is served as ${JSON.stringify(type || '(no Content-Type)')}`,
    `serve it as ${accepted.join(' or ')} (as kube-apiserver does); some verifiers refuse other types`,
  );
}

export function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The discovery document: reachable, JSON, the right type, `issuer` equal to the URL byte for byte. */
export function checkDiscovery(issuer: string, result: FetchResult): DiscoveryFindings {
  const fetched = checkFetched('discovery', 'the discovery document', result);
  const checks = fetched.checks;
  if (fetched.body === undefined || !fetched.headers) return { checks };

  checks.push(
    checkContentType('discovery.content_type', 'the discovery document', fetched.headers, [
      'application/json',
    ]),
  );
  const json = parseJsonObject(fetched.body);
  if (!json) {
    const looksHtml = /^\s*</.test(fetched.body);
    checks.push(
      fail(
        'discovery.json',
        `the discovery document is not a JSON object${looksHtml ? ' (it looks like an HTML page)' : ''}`,
        "serve the cluster's /.well-known/openid-configuration unchanged at this URL; an HTML page usually means a login wall, a proxy error or the wrong path",
      ),
    );
    return { checks };
  }
  // Doctor reports every finding of the one judge, each with its fix.
  const judged = judgeDiscovery(json, { issuers: [issuer] });
  const missing = findingsOf(judged, 'required').map((finding) => finding.path);
  if (missing.length > 0) {
    checks.push(
      fail(
        'discovery.json',
        `the discovery document has no valid ${missing.join(' or ')}`,
        "serve the cluster's /.well-known/openid-configuration unchanged: it names the issuer and the jwks_uri",
      ),
    );
    return { checks };
  }
  if (!judged.document) {
    checks.push(
      warn(
        'discovery.json',
        "the discovery document is JSON but not shaped like kube-apiserver's",
        "serve the cluster's /.well-known/openid-configuration unchanged",
        {
          details: findingsOf(judged, 'shape').map((finding) => describeIssue(finding)),
        },
      ),
    );
  } else {
    checks.push(
      pass('discovery.json', 'the discovery document is a valid OpenID provider configuration'),
    );
  }

  const served = judged.issuer!;
  if (findingsOf(judged, 'issuer').length === 0) {
    checks.push(
      pass(
        'discovery.issuer',
        `issuer is ${JSON.stringify(served)}, byte for byte the URL it is served under`,
      ),
    );
  } else {
    const slashOnly = served.replace(/\/$/, '') === issuer.replace(/\/$/, '');
    const fix = slashOnly
      ? `Google STS rejects every token when these differ. Use ${issuer.replace(/\/$/, '')} (no trailing slash) everywhere: the provider's --issuer-uri, the kube-apiserver's --service-account-issuer, and doctor --issuer`
      : `Google STS rejects every token when these differ. If ${JSON.stringify(issuer)} is the issuer you registered with Google, start the kube-apiserver with --service-account-issuer=${issuer} (idbridge serve: set IDBRIDGE_PUBLIC_URL so that {PUBLIC_URL}/{cluster} is this URL); otherwise use ${JSON.stringify(served)} as the provider's --issuer-uri and run doctor against it`;
    checks.push(
      fail(
        'discovery.issuer',
        `issuer is ${JSON.stringify(served)}, not ${JSON.stringify(issuer)}: ${describeIssuerDifference(issuer, served)}`,
        fix,
      ),
    );
  }

  const jwksUri = json.jwks_uri as string;
  const transport = transportOf(jwksUri);
  if (transport.kind === 'plain-http') {
    checks.push(
      warn(
        'discovery.jwks_uri',
        `jwks_uri ${jwksUri} is plain HTTP`,
        'Google fetches the JWKS over HTTPS only: publish it at an https:// URL (start kube-apiserver with --service-account-jwks-uri=https://…)',
      ),
    );
  } else if (transport.kind === 'invalid') {
    checks.push(
      fail(
        'discovery.jwks_uri',
        `jwks_uri: ${transport.reason}`,
        'set --service-account-jwks-uri to the https URL where the JWKS is published',
      ),
    );
  } else {
    checks.push(pass('discovery.jwks_uri', `jwks_uri is ${jwksUri}`));
  }
  checks.push(checkCacheHeaders('discovery.cache', 'the discovery document', fetched.headers));
  // A jwks_uri refused above is not fetched: its failure is already reported, with the fix.
  return transport.kind === 'invalid' ? { checks } : { checks, jwksUri };
}
