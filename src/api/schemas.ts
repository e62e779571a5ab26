import { z } from 'zod';
import { DISCOVERY_PATH } from '../oidc/paths.js';
import { jwksUriFor } from '../oidc/discovery.js';
import { keyFlaw } from '../oidc/jwks.js';
import { clusterIdSchema } from '../registry/cluster-id.js';
import {
  brokerPolicySchema,
  clusterModeSchema,
  fleetRevocationSchema,
  serviceAccountSubjectSchema,
  type ClusterMode,
  type ClusterRecord,
  type KeySource,
} from '../registry/record.js';
import { parseProvider, stripProviderPrefix } from '../credentials/credential-config.js';

/** The ServiceAccount `infra/k8s/sync` runs the sync job as; the default `syncSubject`. */
export const DEFAULT_SYNC_SUBJECT = 'system:serviceaccount:idbridge-sync:idbridge-sync';

/** Patterns per list and `*` per pattern a broker policy may hold: every exchange checks them all. */
export const MAX_POLICY_PATTERNS = 100;
export const MAX_PATTERN_STARS = 4;

const SUBJECT_PATTERN = /^system:serviceaccount:([a-z0-9*-]{1,63}):([a-z0-9.*-]{1,253})$/;
const PROVIDER_PATTERN =
  /^projects\/([0-9*]{1,20})\/locations\/(global|\*)\/workloadIdentityPools\/([a-z0-9*-]{1,32})\/providers\/([a-z0-9*-]{1,32})$/;

/** A pattern list: at most MAX_POLICY_PATTERNS entries, each checked by `problemOf` (null when fine). */
function patternList(
  what: string,
  maxLength: number,
  problemOf: (pattern: string) => string | null,
) {
  return z
    .array(
      z
        .string({ error: `each ${what} pattern must be a string` })
        .max(maxLength, `a ${what} pattern is at most ${maxLength} characters`)
        .superRefine((pattern, ctx) => {
          const stars = pattern.split('*').length - 1;
          const problem =
            stars > MAX_PATTERN_STARS
              ? `has ${stars} "*"; at most ${MAX_PATTERN_STARS} per pattern`
              : problemOf(pattern);
          if (problem)
            ctx.addIssue({
              code: 'custom',
              message: `${JSON.stringify(pattern.slice(0, 80))} ${problem}`,
            });
        }),
    )
    .max(MAX_POLICY_PATTERNS, `at most ${MAX_POLICY_PATTERNS} ${what} patterns`);
}

function subjectProblem(pattern: string): string | null {
  if (SUBJECT_PATTERN.test(pattern)) return null;
  return 'is not a subject pattern: write system:serviceaccount:NAMESPACE:NAME, lowercase, with "*" for any run of characters inside the namespace or the name';
}

function providerProblem(pattern: string): string | null {
  const match = PROVIDER_PATTERN.exec(stripProviderPrefix(pattern));
  if (!match) {
    return 'is not a provider pattern: write projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (optionally with //iam.googleapis.com/), with "*" for any run of characters inside a segment';
  }
  // Google's pool and provider ids are 4-32 characters: a literal id of another length matches nothing.
  const short = [match[3]!, match[4]!].find((id) => !id.includes('*') && id.length < 4);
  return short
    ? `names the id ${JSON.stringify(short)}, but pool and provider ids are 4-32 characters of a-z, 0-9 and -`
    : null;
}

const ROLE_PATTERN =
  /^arn:(aws|aws-cn|aws-us-gov|\*):iam::([0-9]{12}|\*):role\/[A-Za-z0-9+=,.@_/*-]{1,512}$/;
const CLIENT_ID_PATTERN =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\*)$/;

function roleProblem(pattern: string): string | null {
  if (ROLE_PATTERN.test(pattern)) return null;
  return 'is not a role pattern: write arn:aws:iam::ACCOUNT_ID:role/NAME (a 12-digit account id), with "*" for any run of characters inside a part between ":"';
}

function clientIdProblem(pattern: string): string | null {
  if (CLIENT_ID_PATTERN.test(pattern)) return null;
  return 'is not a client id: write the application (client) id GUID of the Entra ID app or managed identity, or "*"';
}

/** The broker policy as the API accepts it: `brokerPolicySchema`, with every pattern checked against what it matches. */
export const brokerPolicyInputSchema = brokerPolicySchema.extend({
  subjects: patternList('subject', 320, subjectProblem).optional(),
  providers: patternList('provider', 512, providerProblem).optional(),
  roles: patternList('role', 2048, roleProblem).optional(),
  clientIds: patternList('client id', 64, clientIdProblem).optional(),
});

/** POST /api/v1/clusters */
export const createClusterSchema = z.strictObject({
  id: clusterIdSchema,
  syncSubject: serviceAccountSubjectSchema.default(DEFAULT_SYNC_SUBJECT),
  /** The cluster's current /openid/v1/jwks (`kubectl get --raw /openid/v1/jwks`). */
  jwks: z.unknown().optional(),
  broker: brokerPolicyInputSchema.optional(),
  /** How Google trusts the cluster: `provider` (default), `jwks-upload` or `fleet` (docs/fleet.md). */
  mode: clusterModeSchema.optional(),
});
export type CreateClusterRequest = z.infer<typeof createClusterSchema>;

/** PATCH /api/v1/clusters/{id} */
export const updateClusterSchema = z.strictObject({
  syncSubject: serviceAccountSubjectSchema.optional(),
  broker: brokerPolicyInputSchema.nullable().optional(),
  mode: clusterModeSchema.optional(),
  /** The fleet kill switch (docs/fleet.md): replaces the cluster's revocations; null lifts them all. */
  fleet: fleetRevocationSchema.nullable().optional(),
});
export type UpdateClusterRequest = z.infer<typeof updateClusterSchema>;

/** PUT /api/v1/clusters/{id}/keys */
export const putKeysSchema = z.strictObject({
  jwks: z
    .unknown()
    .refine((value) => value !== undefined, "jwks is required: the cluster's /openid/v1/jwks"),
  /** The cluster's /.well-known/openid-configuration; checked against the registered issuer. */
  discovery: z.unknown().optional(),
  /**
   * The workload identity provider the sync job wrote this JWKS into before pushing it
   * (`sync --target wif-provider://… --api`): recorded on the key event, source `provider-upload`.
   */
  provider: z
    .string({ error: 'provider must be a string' })
    .max(300, 'provider is at most 300 characters')
    .refine(isProviderName, {
      message:
        'provider must be the resource name the keys were written to: projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER',
    })
    .optional(),
});

/** Exactly `projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV`, nothing around it. */
function isProviderName(value: string): boolean {
  try {
    return parseProvider(value).path === value;
  } catch {
    return false;
  }
}

export const MAX_PAGE_SIZE = 500;

/** GET /api/v1/clusters?limit=&pageToken= */
export const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100),
  pageToken: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_-]*$/, 'must be a nextPageToken from a previous page')
    .optional(),
});

/** What the API shows of a cluster: the record (public keys only) plus where it is published. */
export interface ClusterView {
  id: string;
  issuer: string;
  syncSubject: string;
  discoveryUrl: string;
  jwksUrl: string;
  /** `unsafe`: why a key stored before the RSA rule fails it; such a key is withheld and trusted nowhere. */
  keys: Array<{
    kid: string;
    alg: string;
    kty: string;
    firstSeen: string;
    lastSeen: string;
    unsafe?: string;
  }>;
  keyEvents: ClusterRecord['keyEvents'];
  broker?: ClusterRecord['broker'];
  /** How Google trusts the cluster's tokens: its own provider, an uploaded JWKS, or the fleet provider. */
  mode: ClusterMode;
  fleet?: ClusterRecord['fleet'];
  /**
   * The last write of the cluster's keys (registration, sync push, a push after a provider upload,
   * or admin), with the provider when the push reported one; null before any.
   */
  lastKeyWrite: { at: string; source: KeySource; provider?: string } | null;
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
      return {
        kid: entry.jwk.kid,
        alg: entry.jwk.alg,
        kty: entry.jwk.kty,
        firstSeen: entry.firstSeen,
        lastSeen: entry.lastSeen,
        ...(unsafe !== undefined ? { unsafe } : {}),
      };
    }),
    keyEvents: record.keyEvents,
    ...(record.broker ? { broker: record.broker } : {}),
    mode: record.mode ?? 'provider',
    ...(record.fleet ? { fleet: record.fleet } : {}),
    lastKeyWrite: lastKeyWrite(record),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    version: record.version,
  };
}

/** The latest key event: kept even when older ones fall off the history (MAX_KEY_EVENTS). */
function lastKeyWrite(record: ClusterRecord): ClusterView['lastKeyWrite'] {
  const last = record.keyEvents.at(-1);
  if (!last) return null;
  return {
    at: last.at,
    source: last.source,
    ...(last.provider !== undefined ? { provider: last.provider } : {}),
  };
}
