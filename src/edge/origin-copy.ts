import { IdbridgeError } from '../errors.js';
import { describeIssues } from '../errors/zod.js';
import type { DocumentKind } from '../oidc/paths.js';
import { findingsOf, judgeDiscovery } from '../oidc/discovery.js';
import { validateJwks } from '../oidc/jwks.js';
import type { OriginCopy, OriginOutcome } from './cluster-state.js';
import type { DocumentFetch, FetchedDocuments } from './origin-fetch.js';

/**
 * Judges what the origin sent for a cluster. The result is a new copy only when both documents
 * are present and valid (or unchanged); anything else is a fault that leaves the last good copy
 * in place. `acceptedIssuers` are the issuers the origin's discovery document may name.
 */
export async function evaluateOrigin(
  fetched: FetchedDocuments,
  previous: OriginCopy | null,
  acceptedIssuers: readonly string[],
  now: number,
): Promise<OriginOutcome> {
  const { discovery, jwks } = fetched;
  if (discovery.status === 'missing' && jwks.status === 'missing') {
    return { kind: 'missing', reason: `the origin has no such cluster (HTTP ${jwks.httpStatus})` };
  }
  const faults = (['discovery', 'jwks'] as const).flatMap((kind) =>
    problem(kind, fetched[kind], previous),
  );
  if (faults.length > 0) return { kind: 'fault', reason: faults.join('; ') };

  let originIssuer = previous?.originIssuer ?? '';
  if (discovery.status === 'ok') {
    const checked = checkDiscovery(discovery.text, acceptedIssuers);
    if (typeof checked !== 'string')
      return { kind: 'fault', reason: `discovery document: ${checked.reason}` };
    originIssuer = checked;
  }
  let keys = previous?.keys ?? [];
  if (jwks.status === 'ok') {
    try {
      keys = (await validateJwks(jwks.text)).keys;
    } catch (err) {
      // Whatever the origin sent, a refusal is a fault that keeps the last good copy, never a 500.
      return {
        kind: 'fault',
        reason: `JWKS: ${err instanceof IdbridgeError ? err.message : `it could not be validated (${(err as Error).name})`}`,
      };
    }
  }

  const changed = (kind: DocumentKind) => fetched[kind].status === 'ok';
  const etag = (kind: DocumentKind) => {
    const result = fetched[kind];
    return result.status === 'ok' ? result.etag : (previous?.etags[kind] ?? null);
  };
  if (!changed('discovery') && !changed('jwks') && previous) return { kind: 'ok', copy: previous };
  return {
    kind: 'ok',
    copy: {
      keys,
      originIssuer,
      etags: { discovery: etag('discovery'), jwks: etag('jwks') },
      changedAt: {
        discovery: changed('discovery') ? now : (previous?.changedAt.discovery ?? now),
        jwks: changed('jwks') ? now : (previous?.changedAt.jwks ?? now),
      },
    },
  };
}

function problem(kind: DocumentKind, result: DocumentFetch, previous: OriginCopy | null): string[] {
  const name = kind === 'jwks' ? 'JWKS' : 'discovery document';
  switch (result.status) {
    case 'fault':
      return [`${name}: ${result.reason}`];
    case 'missing':
      return [
        `${name}: the origin answers HTTP ${result.httpStatus} for it while it has the other document`,
      ];
    case 'not-modified':
      // A 304 is an answer to our If-None-Match; without a copy to keep it means nothing.
      return previous
        ? []
        : [`${name}: the origin answered 304 Not Modified to an unconditional request`];
    case 'ok':
      return [];
  }
}

/** The discovery document's issuer if it is valid and names an accepted issuer; else why not. */
export function checkDiscovery(
  text: string,
  acceptedIssuers: readonly string[],
): string | { reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { reason: 'not valid JSON (truncated or not a JSON document)' };
  }
  const judged = judgeDiscovery(value, { issuers: acceptedIssuers });
  if (!judged.document) {
    return {
      reason: `not an OpenID provider configuration: ${describeIssues(findingsOf(judged, 'shape'), '(document)')}`,
    };
  }
  if (findingsOf(judged, 'issuer').length > 0) {
    return {
      reason: `issuer ${JSON.stringify(judged.document.issuer.slice(0, 200))} is not this cluster's (expected ${acceptedIssuers.map((issuer) => JSON.stringify(issuer)).join(' or ')})`,
    };
  }
  return judged.document.issuer;
}
