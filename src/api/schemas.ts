import { z } from 'zod';
import { DISCOVERY_PATH } from '../issuer/paths.js';
import { jwksUriFor } from '../oidc/discovery.js';
import { keyFlaw } from '../oidc/jwks.js';
import { clusterIdSchema } from '../registry/cluster-id.js';
import { brokerPolicySchema, serviceAccountSubjectSchema, type ClusterRecord } from '../registry/record.js';

/** The ServiceAccount `infra/k8s/sync` runs the sync job as; the default `syncSubject`. */
export const DEFAULT_SYNC_SUBJECT = 'system:serviceaccount:idbridge-sync:idbridge-sync';

/** POST /api/v1/clusters */
export const createClusterSchema = z.strictObject({
  id: clusterIdSchema,
  syncSubject: serviceAccountSubjectSchema.default(DEFAULT_SYNC_SUBJECT),
  /** The cluster's current /openid/v1/jwks (`kubectl get --raw /openid/v1/jwks`). */
  jwks: z.unknown().optional(),
  broker: brokerPolicySchema.optional(),
});
export type CreateClusterRequest = z.infer<typeof createClusterSchema>;

/** PATCH /api/v1/clusters/{id} */
export const updateClusterSchema = z.strictObject({
  syncSubject: serviceAccountSubjectSchema.optional(),
  broker: brokerPolicySchema.nullable().optional(),
});
export type UpdateClusterRequest = z.infer<typeof updateClusterSchema>;

/** PUT /api/v1/clusters/{id}/keys */
export const putKeysSchema = z.strictObject({
  jwks: z.unknown().refine((value) => value !== undefined, 'jwks is required: the cluster\'s /openid/v1/jwks'),
  /** The cluster's /.well-known/openid-configuration; checked against the registered issuer. */
  discovery: z.unknown().optional(),
});

export const MAX_PAGE_SIZE = 500;

/** GET /api/v1/clusters?limit=&pageToken= */
export const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100),
  pageToken: z.string().max(200).regex(/^[A-Za-z0-9_-]*$/, 'must be a nextPageToken from a previous page').optional(),
});

/** What the API shows of a cluster: the record (public keys only) plus where it is published. */
export interface ClusterView {
  id: string;
  issuer: string;
  syncSubject: string;
  discoveryUrl: string;
  jwksUrl: string;
  /** `unsafe`: why a key stored before the RSA rule fails it; such a key is withheld and trusted nowhere. */
  keys: Array<{ kid: string; alg: string; kty: string; firstSeen: string; lastSeen: string; unsafe?: string }>;
  keyEvents: ClusterRecord['keyEvents'];
  broker?: ClusterRecord['broker'];
  createdAt: string;
  updatedAt: string;
  version: number;
}

export function clusterView(record: ClusterRecord): ClusterView {
  return {
    id: record.id,
    issuer: record.issuer,
    syncSubject: record.syncSubject,
    discoveryUrl: `${record.issuer}${DISCOVERY_PATH}`,
    jwksUrl: jwksUriFor(record.issuer),
    keys: record.keys.map((entry) => {
      const unsafe = keyFlaw(entry.jwk);
      return { kid: entry.jwk.kid, alg: entry.jwk.alg, kty: entry.jwk.kty, firstSeen: entry.firstSeen, lastSeen: entry.lastSeen, ...(unsafe !== undefined ? { unsafe } : {}) };
    }),
    keyEvents: record.keyEvents,
    ...(record.broker ? { broker: record.broker } : {}),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    version: record.version,
  };
}
