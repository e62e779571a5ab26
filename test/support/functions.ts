import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './net.js';
import { REPO_ROOT } from './serve.js';

const FRAMEWORK = join(
  REPO_ROOT,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);

export interface FunctionsHost {
  url: string;
  /** What the function wrote to stdout and stderr. */
  output(): string;
  close(): Promise<void>;
}

/**
 * The Cloud Functions entry as the platform runs it: `functions-framework --target=idbridge` from
 * the repository root (package.json "main" is the built functions/index.js), NODE_ENV=production.
 * Needs `npm run build`.
 */
export async function startFunctionsHost(
  env: Record<string, string>,
  port?: number,
): Promise<FunctionsHost> {
  port ??= await freePort();
  const child = spawn(
    process.execPath,
    [FRAMEWORK, '--target=idbridge', `--port=${port}`, `--source=${REPO_ROOT}`],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`functions-framework exited with ${child.exitCode}: ${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`functions-framework did not answer on ${url}: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    output: () => output,
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
