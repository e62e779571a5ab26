import type { ApiHost } from '../contract/admin-api-contract.js';
import type { IssuerHost } from '../contract/issuer-contract.js';

/**
 * A host of the registration API and the issuer routes, as the contract suites see it: clusters
 * appear on it through its own admin API.
 */
export function adminApiHost(options: {
  url: string;
  publicUrl: string;
  adminToken: string;
  close(): Promise<void>;
}): IssuerHost & ApiHost {
  const admin = (method: string, path: string, body: unknown) =>
    fetch(`${options.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.adminToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    }).then(async (res) => {
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    });
  return {
    url: options.url,
    publicUrl: options.publicUrl,
    adminToken: options.adminToken,
    publishCluster: (id, jwks) => admin('POST', '/api/v1/clusters', { id, jwks }),
    replaceKeys: (id, jwks) => admin('PUT', `/api/v1/clusters/${id}/keys`, { jwks }),
    close: options.close,
  };
}
