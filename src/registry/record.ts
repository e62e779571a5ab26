import { z } from 'zod';
import { publicJwkSchema, type PublicJwk } from '../oidc/jwks.js';
import { clusterIdSchema } from './cluster-id.js';

const timestamp = z.iso.datetime();

/** A public key as idbridge stores and republishes it (already validated by validateJwks): the one schema in oidc/. */
export const storedJwkSchema: z.ZodType<PublicJwk> = publicJwkSchema;

export const keyEntrySchema = z.object({
  jwk: storedJwkSchema,
  /** When this key first appeared in the cluster's JWKS. */
  firstSeen: timestamp,
  /** When a push or registration last contained this key. */
  lastSeen: timestamp,
});
export type KeyEntry = z.infer<typeof keyEntrySchema>;

/**
 * Who changed a cluster's keys: the cluster itself (`sync`: a push; `provider-upload`: a push
 * made after sync wrote the same keys into the cluster's provider, `sync --target
 * wif-provider://… --api`), or an administrator.
 */
export const keySourceSchema = z.enum([
  'registration',
  'sync',
  'provider-upload',
  'admin',
  'admin-force',
]);
export type KeySource = z.infer<typeof keySourceSchema>;

export const keyEventSchema = z.object({
  at: timestamp,
  source: keySourceSchema,
  added: z.array(z.string()),
  removed: z.array(z.string()),
  /** The workload identity provider whose uploaded keys the push reported written (`projects/…/providers/PROV`). */
  provider: z.string().max(300).optional(),
});
export type KeyEvent = z.infer<typeof keyEventSchema>;
/** History kept per record; older events fall off (the structured log keeps them all). */
export const MAX_KEY_EVENTS = 50;

/** `system:serviceaccount:NAMESPACE:NAME`, as kube-apiserver writes `sub`. */
export const serviceAccountSubjectSchema = z
  .string()
  .max(320)
  .regex(
    /^system:serviceaccount:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?:[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/,
    'must be a ServiceAccount subject "system:serviceaccount:NAMESPACE:NAME"',
  );

/** Per-cluster rules for the STS broker; absent means the defaults described in the README. */
export const brokerPolicySchema = z.strictObject({
  /** Audiences a subject token may carry (default: the requested provider's resource name). */
  audiences: z.array(z.string().min(1).max(512)).max(20).optional(),
  /** Subject patterns allowed to exchange, e.g. `system:serviceaccount:team-a:*`. */
  subjects: z.array(z.string().min(1).max(320)).max(100).optional(),
  /** Workload identity providers (STS `audience`) this cluster may exchange against. */
  providers: z.array(z.string().min(1).max(512)).max(100).optional(),
  /** AWS IAM role ARN patterns (`RoleArn` of AssumeRoleWithWebIdentity) this cluster may assume. */
  roles: z.array(z.string().min(1).max(2048)).max(100).optional(),
  /** Audiences a token for AWS STS may carry (default `sts.amazonaws.com`). */
  awsAudiences: z.array(z.string().min(1).max(512)).max(20).optional(),
  /** Entra ID application (client) ids this cluster may get tokens for, or `*`. */
  clientIds: z.array(z.string().min(1).max(64)).max(100).optional(),
  /** Audiences a token for Entra ID may carry (default `api://AzureADTokenExchange`). */
  azureAudiences: z.array(z.string().min(1).max(512)).max(20).optional(),
});
export type BrokerPolicy = z.infer<typeof brokerPolicySchema>;

/**
 * How Google trusts the cluster's tokens: `provider` (its own provider reads its public issuer;
 * the default), `jwks-upload` (its own provider holds its keys, `sync --target wif-provider://`),
 * `fleet` (the broker re-mints under the one fleet provider, docs/fleet.md).
 */
export const clusterModeSchema = z.enum(['provider', 'jwks-upload', 'fleet'], {
  error: 'must be "provider" (its own provider, the default), "jwks-upload" or "fleet"',
});
export type ClusterMode = z.infer<typeof clusterModeSchema>;

/** The fleet kill switch: the whole cluster, or some of its subjects, may no longer be minted for. */
export const fleetRevocationSchema = z.strictObject({
  /** No fleet token is minted for any subject of the cluster. */
  revoked: z.boolean().optional(),
  /** Subjects (`system:serviceaccount:NS:NAME`) no fleet token is minted for. */
  revokedSubjects: z.array(serviceAccountSubjectSchema).max(1000).optional(),
});
export type FleetRevocation = z.infer<typeof fleetRevocationSchema>;

export const clusterRecordSchema = z.object({
  id: clusterIdSchema,
  /** The issuer this cluster's tokens carry: `{IDBRIDGE_PUBLIC_URL}/{id}`, fixed at registration. */
  issuer: z.url(),
  syncSubject: serviceAccountSubjectSchema,
  keys: z.array(keyEntrySchema).max(50),
  keyEvents: z.array(keyEventSchema).max(MAX_KEY_EVENTS),
  broker: brokerPolicySchema.optional(),
  /** Absent: `provider`. */
  mode: clusterModeSchema.optional(),
  fleet: fleetRevocationSchema.optional(),
  createdAt: timestamp,
  updatedAt: timestamp,
  /** Incremented by every write; clients use it as an optimistic-concurrency token. */
  version: z.number().int().positive(),
});
export type ClusterRecord = z.infer<typeof clusterRecordSchema>;
