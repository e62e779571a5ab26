import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/serve.js';

/** Issue #11, item 6: `npm run demo` (its built script; `npm test` builds) runs the loop end to end and exits 0 by itself. */
describe('npm run demo', () => {
  it('registers, syncs, rotates a key and shows the JWKS follow, then exits 0', async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/src/demo/run.js')], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/NODE_EXTRA_CA_CERTS=\S+\/tls\/ca\.crt/);
    expect(stdout).toMatch(/Registered cluster demo\./);
    const published = [...stdout.matchAll(/published kids: (.*)/g)].map((m) => m[1]!.split(', '));
    expect(published.map((kids) => kids.length)).toEqual([1, 2, 1]);
    expect(published[1]![0]).toBe(published[0]![0]);
    expect(published[2]![0]).toBe(published[1]![1]);
    expect(stdout).toMatch(/== done/);
    expect(stdout).not.toMatch(/insecure-skip-tls-verify/);
  }, 180_000); // several processes and RSA key generation on a shared 2-core machine
});
