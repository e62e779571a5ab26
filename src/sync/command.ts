import { secretTransportProblem } from '../net/loopback.js';
import { z } from 'zod';
import { baseUrl, loadConfig } from '../config/config.js';
import { createLogger, type Logger } from '../log/logger.js';
import { clusterIdSchema } from '../registry/cluster-id.js';
import { parseStoreLocation } from '../registry/open-store.js';
import { ApiTarget } from './api-target.js';
import { parseDuration } from './duration.js';
import { ProviderThenApiTarget } from './provider-then-api-target.js';
import { SyncFailure } from './failure.js';
import { describeIssues, zodDetails, type SchemaIssue } from '../errors/zod.js';
import { KubeIssuerSource, loadKubeConfig } from './kube-source.js';
import { runSync, type SyncSchedule } from './run.js';
import type { SyncTarget } from './target.js';
import { parseWifProviderTarget } from './wif-provider-url.js';

/** The flags of `idbridge sync` as commander hands them over. */
export interface SyncFlags {
  api?: string;
  cluster?: string;
  tokenFile?: string;
  kubeconfig?: string;
  once?: boolean;
  interval?: string;
  target?: string;
  issuer?: string;
  attempts?: string;
  backoff?: string;
}

const duration = (flag: string, minMs: number) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === null || ms < minMs) {
      ctx.addIssue({
        code: 'custom',
        message: `${flag} must be a duration of at least ${minMs / 1000}s, like 30s, 5m or 1h`,
      });
      return z.NEVER;
    }
    return ms;
  });

export const flagsSchema = z
  .object({
    api: baseUrl('--api').optional().meta({
      description:
        'base URL of the registration API; `https://` (plain `http://` only to 127.0.0.1/localhost: the token must not cross a network unencrypted)',
      defaultText: 'required (or `--target`; with `--target wif-provider://…`: optional)',
    }),
    // Absent is its own message: "must be a string" does not say that --cluster was left out.
    cluster: z
      .string({
        error:
          '--cluster ID is required: the cluster id registered with idbridge (idbridge clusters list)',
      })
      .pipe(clusterIdSchema)
      .meta({ description: "the cluster's registered id", defaultText: 'required' }),
    tokenFile: z.string().min(1, 'must not be empty').optional().meta({
      description:
        "projected ServiceAccount token with the API's `IDBRIDGE_SYNC_AUDIENCE`; read again for every push (kubelet rotates it)",
      defaultText: 'required with `--api`',
    }),
    kubeconfig: z.string().min(1, 'must not be empty').optional().meta({
      description: 'how to reach the kube-apiserver; also `KUBECONFIG`',
      defaultText: 'in-cluster ServiceAccount',
    }),
    once: z
      .boolean()
      .default(false)
      .meta({ description: 'one cycle and exit (CronJob)', defaultText: 'off: `--interval 5m`' }),
    interval: duration('--interval', 10_000)
      .optional()
      .meta({ description: 'a cycle every `D` ± 10 % jitter (Deployment)', defaultText: '`5m`' }),
    target: z.string().optional().meta({
      description:
        "`gcs://BUCKET/PREFIX`: write the public documents straight into the bucket layout; `wif-provider://projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV`: keep the provider's uploaded keys (`oidc.jwksJson`) current, no public issuer (Application Default Credentials); with `--api` too, each cycle then pushes the keys the provider holds to the registration API (for the broker)",
      defaultText: '—',
    }),
    issuer: baseUrl('--issuer').optional().meta({
      description:
        "the registered issuer, checked against the cluster's discovery document before pushing",
      defaultText: 'the API checks it; with `--target`: the bucket URL',
    }),
    attempts: z.coerce.number().int().min(1).max(20).default(5).describe('tries per step'),
    backoff: duration('--backoff', 1).optional().meta({
      description: 'first retry delay, doubled each retry up to 60 s, full jitter',
      defaultText: '`1s`',
    }),
  })
  .superRefine((flags, ctx) => {
    if (flags.api && flags.target && !isProviderTarget(flags.target))
      ctx.addIssue({
        code: 'custom',
        message:
          'use either --api (push to the registration API) or --target gcs://BUCKET/PREFIX (write the bucket), not both; only --target wif-provider://… goes with --api (the provider is written first, then the API)',
      });
    if (!flags.api && !flags.target)
      ctx.addIssue({
        code: 'custom',
        message:
          '--api URL is required (or --target gcs://BUCKET/PREFIX to write a bucket directly)',
      });
    const insecure = flags.api ? secretTransportProblem('--api', flags.api) : null;
    if (insecure) ctx.addIssue({ code: 'custom', message: insecure });
    if (flags.api && !flags.tokenFile)
      ctx.addIssue({
        code: 'custom',
        message:
          '--token-file is required with --api: the projected ServiceAccount token the API verifies',
      });
    if (flags.once && flags.interval !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'use either --once (CronJob) or --interval D (Deployment), not both',
      });
  });

export type SyncOptions = z.output<typeof flagsSchema>;

/** A `--target` meant as a provider (checked strictly by parseWifProviderTarget). */
function isProviderTarget(target: string): boolean {
  return target.toLowerCase().startsWith('wif-provider:');
}

/** Validates the flags once; a refusal is a configuration failure (exit 2) naming the flag. */
export function parseSyncFlags(flags: SyncFlags): SyncOptions {
  const parsed = flagsSchema.safeParse({ ...flags, once: flags.once === true });
  if (!parsed.success) {
    // A message that already names its flag is shown alone.
    const flag = (_: string, issue: SchemaIssue) =>
      issue.path.length > 0 && !issue.message.includes('--')
        ? `--${kebab(String(issue.path[0]))}`
        : '';
    throw new SyncFailure(
      'config',
      describeIssues(zodDetails(parsed.error, { name: flag })),
      false,
    );
  }
  return parsed.data;
}

const DEFAULT_INTERVAL_MS = 5 * 60_000;
const REPUSH_AFTER_MS = 60 * 60_000;

/**
 * `idbridge sync`: configuration parsed once (flags, then the environment for what flags do not
 * cover), the kube-apiserver source and the target wired, then the loop. Resolves to the exit code.
 */
export async function runSyncCommand(
  env: Record<string, string | undefined>,
  flags: SyncFlags,
  io: { stdout: (chunk: string) => void; stderr: (line: string) => void; signal?: AbortSignal },
): Promise<number> {
  let schedule: SyncSchedule;
  let source: KubeIssuerSource;
  let target: SyncTarget;
  let logger: Logger;
  try {
    const options = parseSyncFlags(flags);
    // Every flag is judged before the kubeconfig is read.
    const provider =
      options.target !== undefined && isProviderTarget(options.target)
        ? parseWifProviderTarget(options.target)
        : undefined;
    const config = loadConfig(env);
    logger = createLogger(io.stdout, { level: config.logLevel });
    const kubeconfig = options.kubeconfig ?? env.KUBECONFIG;
    if (kubeconfig?.includes(':'))
      throw new SyncFailure(
        'config',
        'KUBECONFIG lists several files; pass the one to use with --kubeconfig',
        false,
      );
    source = new KubeIssuerSource(
      loadKubeConfig({
        ...(kubeconfig ? { kubeconfig } : {}),
        inCluster: !!env.KUBERNETES_SERVICE_HOST,
      }),
    );
    let expectedIssuer = options.issuer;
    if (provider) {
      const { wifProviderTarget } = await import('./wif-provider-wiring.js');
      const written = await wifProviderTarget(provider, {
        iamUrl: config.iamUrl,
        credentialsFile: env.GOOGLE_APPLICATION_CREDENTIALS || undefined,
      });
      target = options.api
        ? new ProviderThenApiTarget(
            written,
            new ApiTarget({
              apiUrl: options.api,
              cluster: options.cluster,
              tokenFile: options.tokenFile!,
              provider: provider.path,
            }),
          )
        : written;
    } else if (options.target !== undefined) {
      const location = parseTarget(options.target);
      // Loaded only here: the storage client is large and the API target does not need it.
      const [{ GcsTarget }, { createStorage }] = await Promise.all([
        import('./gcs-target.js'),
        import('../gcs/client.js'),
      ]);
      expectedIssuer ??= GcsTarget.bucketIssuer(location.bucket, location.prefix, options.cluster);
      target = new GcsTarget({
        storage: createStorage(config.gcs, 'caller'),
        bucket: location.bucket,
        prefix: location.prefix,
        cluster: options.cluster,
        issuer: expectedIssuer,
        acl: config.gcs.objectAcl,
      });
    } else {
      target = new ApiTarget({
        apiUrl: options.api!,
        cluster: options.cluster,
        tokenFile: options.tokenFile!,
      });
    }
    schedule = {
      once: options.once,
      intervalMs: options.interval ?? DEFAULT_INTERVAL_MS,
      jitter: 0.1,
      repushAfterMs: REPUSH_AFTER_MS,
      retry: {
        attempts: options.attempts,
        initialMs: options.backoff ?? 1_000,
        maxMs: Math.max(60_000, options.backoff ?? 0),
      },
      ...(expectedIssuer ? { expectedIssuer } : {}),
    };
  } catch (err) {
    const failure =
      err instanceof SyncFailure
        ? err
        : new SyncFailure('config', err instanceof Error ? err.message : String(err), false);
    io.stderr(`idbridge sync: ${failure.message}`);
    return failure.exitCode;
  }
  logger.info('sync starting', {
    server: source.server,
    target: target.description,
    mode: schedule.once ? 'once' : `every ${schedule.intervalMs} ms`,
  });
  return runSync(
    schedule,
    {
      source,
      target,
      logger,
      sleep: (ms) => sleep(ms, io.signal),
      random: Math.random,
      now: Date.now,
      ...(io.signal ? { signal: io.signal } : {}),
    },
    io.stderr,
  );
}

function parseTarget(value: string): { bucket: string; prefix: string } {
  let location;
  try {
    location = parseStoreLocation(value);
  } catch {
    location = undefined;
  }
  if (location?.kind !== 'gcs')
    throw new SyncFailure(
      'config',
      `--target ${JSON.stringify(value.slice(0, 100))} is not a bucket location; use gcs://BUCKET/PREFIX`,
      false,
    );
  return location;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
