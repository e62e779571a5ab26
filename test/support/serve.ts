import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/logger.js';
import { serve } from '../../src/hosts/node/serve.js';
import { freePort } from './net.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const IDBRIDGE_BIN = join(REPO_ROOT, 'bin/idbridge.js');

export interface ServeHarness {
  url: string;
  adminToken: string;
  logs: string[];
  close(): Promise<void>;
}

/** `idbridge serve` in this process, on a free loopback port, with its log lines captured. */
export async function startServe(env: Record<string, string> = {}): Promise<ServeHarness> {
  const port = await freePort();
  const config = loadConfig({
    IDBRIDGE_STORE: 'memory:',
    IDBRIDGE_ADMIN_TOKEN: 'test-admin-token-0123456789',
    ...env,
    PORT: String(port),
  });
  const logs: string[] = [];
  const logger = createLogger((line) => logs.push(line));
  const running = await serve({ config, logger, announce: () => {} });
  return { url: running.url, adminToken: running.adminToken, logs, close: running.close };
}

export interface SpawnedServe {
  url: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  /** SIGTERM and wait for exit; resolves to the exit code. */
  stop(): Promise<number | null>;
}

/** The real `bin/idbridge.js serve` as a child process (needs `npm run build`). */
export async function spawnServe(
  env: Record<string, string>,
  args: string[] = [],
): Promise<SpawnedServe> {
  const port = env.PORT ?? String(await freePort());
  const child = spawn(process.execPath, [IDBRIDGE_BIN, 'serve', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const listening = new Promise<string>((resolveUrl, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        stdout.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'listening' && entry.url) resolveUrl(entry.url);
        } catch {
          // not a log line
        }
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`idbridge serve exited with ${code}: ${stderr}`)),
    );
  });
  const url = await listening;
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('exit', (code) => resolveExit(code)),
  );
  return {
    url,
    child,
    stdout,
    get stderr() {
      return stderr;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function tempDir(
  prefix = 'idbridge-test-',
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Registers cluster `id` with its keys through the admin API (201 or it throws). */
export async function registerCluster(
  harness: ServeHarness,
  id: string,
  jwks: unknown,
): Promise<void> {
  const res = await fetch(`${harness.url}/api/v1/clusters`, {
    method: 'POST',
    headers: { authorization: `Bearer ${harness.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, jwks }),
  });
  if (res.status !== 201) throw new Error(`registering ${id}: ${res.status} ${await res.text()}`);
}
