import { z } from 'zod';
import { baseUrl, environmentSchema } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import { describeIssues, zodDetails } from '../errors/zod.js';
import { isClusterId } from '../registry/cluster-id.js';
import { parseOrigin, type Origin } from './origin.js';

/** How long the edge trusts what it has, and how long it waits for the origin. */
export interface FreshnessPolicy {
  /** A copy confirmed by the origin less than this long ago is served without asking it again. */
  freshMs: number;
  /** A copy the origin can no longer confirm is served at most this long after its last confirmation. */
  maxStaleMs: number;
  /** Bound on one revalidation (both documents, headers and bodies). */
  originTimeoutMs: number;
}

export interface EdgeConfig {
  publicUrl: string;
  origin: Origin;
  policy: FreshnessPolicy;
  /** Clusters the status page at `/` always lists, besides those this isolate has served. */
  statusClusters: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** The status page looks each listed cluster up; keep that bounded. */
export const MAX_STATUS_CLUSTERS = 50;

const seconds = (name: string, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number of seconds` })
    .int(`${name} must be a whole number of seconds`)
    .min(0, `${name} must not be negative`)
    .max(max, `${name} must be at most ${max} seconds`);

/** The Worker's variables (wrangler.toml [vars] or the dashboard), all strings. */
export const edgeEnvironmentSchema = z.object({
  IDBRIDGE_PUBLIC_URL: baseUrl('IDBRIDGE_PUBLIC_URL').describe(
    "the Worker's public URL; cluster `c` has issuer `{IDBRIDGE_PUBLIC_URL}/c` (what Google's provider and `--service-account-issuer` are given)",
  ),
  IDBRIDGE_ORIGIN: z
    .string({
      error:
        'IDBRIDGE_ORIGIN is required: the base URL of an idbridge server, or gcs://BUCKET/PREFIX',
    })
    .trim()
    .describe(
      "`gcs://BUCKET/PREFIX` or the bucket's public URL `https://storage.googleapis.com/BUCKET/PREFIX` (documents at `PREFIX/{cluster}/.well-known/openid-configuration` and `PREFIX/{cluster}/openid/v1/jwks`, read as public objects) or the base URL of any idbridge server",
    ),
  IDBRIDGE_GCS_URL: baseUrl('IDBRIDGE_GCS_URL')
    .default('https://storage.googleapis.com')
    .describe('where public GCS objects are read'),
  IDBRIDGE_EDGE_FRESH_SECONDS: seconds('IDBRIDGE_EDGE_FRESH_SECONDS', 3600)
    .default(60)
    .describe('revalidate with the origin after this long (`0`: on every request)'),
  IDBRIDGE_EDGE_MAX_STALE_SECONDS: seconds('IDBRIDGE_EDGE_MAX_STALE_SECONDS', 7 * 86400)
    .default(86400)
    .describe('serve the last good copy at most this long after the origin last confirmed it'),
  IDBRIDGE_ORIGIN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100, 'IDBRIDGE_ORIGIN_TIMEOUT_MS must be at least 100')
    .max(
      30_000,
      'IDBRIDGE_ORIGIN_TIMEOUT_MS must be at most 30000: a request waits this long at worst',
    )
    .default(5000)
    .describe('bound on one revalidation'),
  IDBRIDGE_STATUS_CLUSTERS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean),
    )
    .refine(
      (ids) => ids.every(isClusterId),
      'IDBRIDGE_STATUS_CLUSTERS must be a comma-separated list of cluster ids (DNS labels)',
    )
    .refine(
      (ids) => ids.length <= MAX_STATUS_CLUSTERS,
      `IDBRIDGE_STATUS_CLUSTERS lists at most ${MAX_STATUS_CLUSTERS} clusters`,
    )
    .default([])
    .meta({
      description:
        "comma-separated clusters the status page always lists (≤ 50; one page revalidates at most 20 of them with the origin, 40 subrequests, under the free plan's 50, and shows the others as this isolate holds them)",
      defaultText: 'none',
    }),
  IDBRIDGE_LOG_LEVEL: environmentSchema.shape.IDBRIDGE_LOG_LEVEL,
});

/** Parses the Worker's variables once per isolate; refuses with a message naming the variable. */
export function loadEdgeConfig(env: Record<string, unknown>): EdgeConfig {
  const strings: Record<string, string> = {};
  for (const key of Object.keys(edgeEnvironmentSchema.shape)) {
    const value = env[key];
    if (typeof value === 'string' && value !== '') strings[key] = value;
  }
  const parsed = edgeEnvironmentSchema.safeParse(strings);
  if (!parsed.success) {
    throw new IdbridgeError(
      'internal',
      `invalid Worker configuration: ${describeIssues(zodDetails(parsed.error))}`,
    );
  }
  const e = parsed.data;
  return {
    publicUrl: e.IDBRIDGE_PUBLIC_URL,
    origin: parseOrigin(e.IDBRIDGE_ORIGIN, e.IDBRIDGE_GCS_URL),
    policy: {
      freshMs: e.IDBRIDGE_EDGE_FRESH_SECONDS * 1000,
      maxStaleMs: e.IDBRIDGE_EDGE_MAX_STALE_SECONDS * 1000,
      originTimeoutMs: e.IDBRIDGE_ORIGIN_TIMEOUT_MS,
    },
    statusClusters: e.IDBRIDGE_STATUS_CLUSTERS,
    logLevel: e.IDBRIDGE_LOG_LEVEL,
  };
}
