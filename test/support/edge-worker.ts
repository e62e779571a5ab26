import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Miniflare } from 'miniflare';
import { freePort } from './net.js';
import { REPO_ROOT } from './serve.js';

export const WRANGLER_BIN = join(REPO_ROOT, 'node_modules/wrangler/bin/wrangler.js');

/** The Worker exactly as `wrangler deploy` would upload it, and the runtime settings it declares. */
export interface WorkerBundle {
  dir: string;
  script: string;
  bytes: number;
  gzipBytes: number;
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** The [vars] of wrangler.toml. */
  vars: Record<string, string>;
}

/** Environment for wrangler in tests: no telemetry, nothing interactive. */
export const WRANGLER_ENV = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CI: 'true',
  NO_COLOR: '1',
};

let bundling: Promise<WorkerBundle> | undefined;

/** Bundles the Worker once per test process with `wrangler deploy --dry-run --outdir`. */
export function workerBundle(): Promise<WorkerBundle> {
  bundling ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'idbridge-worker-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const [, options] = await Promise.all([
      promisify(execFile)(
        process.execPath,
        [WRANGLER_BIN, 'deploy', '--dry-run', '--outdir', dir],
        { cwd: REPO_ROOT, env: WRANGLER_ENV },
      ),
      // wrangler's own reading of wrangler.toml: compatibility date, flags and [vars].
      import('wrangler').then(
        (wrangler) =>
          wrangler.unstable_getMiniflareWorkerOptions(join(REPO_ROOT, 'wrangler.toml'))
            .workerOptions,
      ),
    ]);
    const script = join(dir, 'index.js');
    const code = await readFile(script);
    return {
      dir,
      script,
      bytes: code.byteLength,
      gzipBytes: gzipSync(code).byteLength,
      compatibilityDate: options.compatibilityDate ?? '',
      compatibilityFlags: options.compatibilityFlags ?? [],
      vars: Object.fromEntries(
        Object.entries(options.bindings ?? {}).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string',
        ),
      ),
    };
  })();
  return bundling;
}

export interface EdgeWorkerHarness {
  url: string;
  /** The Worker's log lines (console.log in workerd), as they arrive. */
  logs: string[];
  close(): Promise<void>;
}

export interface EdgeWorkerOptions {
  port?: number;
  /** Keep the Cache API on disk here, so a second Worker (a new isolate) sees what the first cached. */
  cachePersist?: string;
}

/** The bundled Worker in workerd (through miniflare) on 127.0.0.1, with wrangler.toml's vars overridden by `vars`. */
export async function startEdgeWorker(
  vars: Record<string, string>,
  options: EdgeWorkerOptions = {},
): Promise<EdgeWorkerHarness> {
  const bundle = await workerBundle();
  const logs: string[] = [];
  const collect = (stream: Readable) => {
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      logs.push(...lines.filter(Boolean));
    });
  };
  const mf = new Miniflare({
    modules: true,
    modulesRoot: bundle.dir,
    scriptPath: bundle.script,
    compatibilityDate: bundle.compatibilityDate,
    compatibilityFlags: bundle.compatibilityFlags,
    bindings: { ...bundle.vars, ...vars },
    host: '127.0.0.1',
    port: options.port ?? (await freePort()),
    cache: true,
    ...(options.cachePersist ? { cachePersist: options.cachePersist } : {}),
    // No request.cf lookup on the internet; logs captured instead of printed.
    cf: false,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      collect(stdout);
      collect(stderr);
    },
  });
  const url = (await mf.ready).href.replace(/\/$/, '');
  return { url, logs, close: () => mf.dispose() };
}
