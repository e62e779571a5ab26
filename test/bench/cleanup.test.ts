import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from '../support/serve.js';

/** Processes whose environment carries `marker`: what a bench run started and left running. */
async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (environ.includes(marker)) found.push(Number(entry));
  }
  return found;
}

describe('npm run bench: a failed run cleans up', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir('idbridge-bench-test-');
  });
  afterAll(async () => {
    await tmp?.remove();
  });

  it('an injected failure stops every process it started, removes its temporary files and keeps the results file', async () => {
    const results = join(REPO_ROOT, 'bench/results/broker.md');
    const before = await readFile(results, 'utf8');
    const marker = `IDBRIDGE_BENCH_TEST_MARKER=${randomUUID()}`;
    const [key, value] = marker.split('=') as [string, string];
    // The build is the suite's own (npm test builds first); the broker bench is busy after 5 s.
    const child = spawn('bash', [join(REPO_ROOT, 'bench/run.sh'), 'broker'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TMPDIR: tmp.path,
        BENCH_SKIP_BUILD: '1',
        BENCH_FAIL_AFTER: '5',
        BENCH_HEARTBEAT_S: '2',
        [key]: value,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout!.resume();
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));

    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(
      /bench broker FAILED: injected failure after 5s \(BENCH_FAIL_AFTER\); bench\/results\/broker\.md is unchanged/,
    );
    expect(stderr).toMatch(/broker running for \d+s/); // progress while it runs
    expect(await processesWith(marker)).toEqual([]);
    expect(await readdir(tmp.path)).toEqual([]);
    expect(await readFile(results, 'utf8')).toBe(before);
    expect(
      (await readdir(join(REPO_ROOT, 'bench/results'))).filter((f) => f.endsWith('.partial')),
    ).toEqual([]);
  }, 120_000);
});
