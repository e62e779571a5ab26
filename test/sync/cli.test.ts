import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { IDBRIDGE_BIN } from '../support/serve.js';
import { generateClusterKey } from '../support/keys.js';
import { startSyncWorld } from '../support/sync.js';

const run = promisify(execFile);

async function idbridge(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [IDBRIDGE_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The built `bin/idbridge.js sync`, as the CronJob runs it (needs `npm run build`). */
describe('bin/idbridge.js sync', () => {
  it('exits 2 with one line on stderr when a flag is missing', async () => {
    const result = await idbridge(['sync', '--cluster', 'prod']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'idbridge sync: --api URL is required (or --target gcs://BUCKET/PREFIX to write a bucket directly)',
    ]);
  });

  it("pushes a new key with the CronJob's flag forms (--flag=value), exit 0", async () => {
    const world = await startSyncWorld('memory');
    try {
      await world.register();
      world.kube.addKey(generateClusterKey('ES256'));
      const result = await idbridge(
        [
          'sync',
          '--once',
          `--api=${world.serve.url}`,
          `--cluster=${world.cluster}`,
          `--token-file=${world.tokenFile}`,
        ],
        { KUBECONFIG: world.kubeconfig },
      );
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; added?: string[] });
      expect(lines.at(-1)).toMatchObject({
        msg: 'sync: published new keys',
        added: [world.kube.keys.at(-1)!.kid],
      });
      expect(await world.published()).toEqual({ keys: world.kube.keys.map((k) => k.jwk) });
    } finally {
      await world.close();
    }
  });
});
