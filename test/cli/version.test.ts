import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { healthRoutes } from '../../src/http/health.js';
import { runCli } from '../support/cli.js';
import { REPO_ROOT } from '../support/serve.js';

const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
};

describe('release version', () => {
  it.each([['--version'], ['-V']])(
    "`idbridge %s` prints package.json's version and exits 0",
    async (flag) => {
      const result = await runCli([flag]);
      expect(result).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    },
  );

  it('/healthz names the same version (serve and the webhook share these routes)', async () => {
    const res = await healthRoutes(async () => {}).request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', version: pkg.version });
  });
});
