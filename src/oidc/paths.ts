/** The two public documents of a cluster, at the paths kube-apiserver itself uses. */
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/openid/v1/jwks';

export type DocumentKind = 'discovery' | 'jwks';

/** `/{cluster}/.well-known/openid-configuration` → {cluster, kind}; anything else → null. */
export function matchDocumentPath(
  pathname: string,
): { cluster: string; kind: DocumentKind } | null {
  const slash = pathname.indexOf('/', 1);
  if (pathname.charCodeAt(0) !== 47 /* / */ || slash < 2) return null;
  const rest = pathname.slice(slash);
  const kind = rest === JWKS_PATH ? 'jwks' : rest === DISCOVERY_PATH ? 'discovery' : null;
  return kind ? { cluster: pathname.slice(1, slash), kind } : null;
}
