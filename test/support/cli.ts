import { spawn } from 'node:child_process';
import { IDBRIDGE_BIN } from './serve.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real `bin/idbridge.js` (built dist/) with exactly `env` (plus PATH), stdout/stderr captured. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [IDBRIDGE_BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) =>
    child.once('close', (exitCode) => resolve(exitCode)),
  );
  return { code, stdout, stderr };
}
