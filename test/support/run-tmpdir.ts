import { rmSync } from 'node:fs';

/** Removes the run's temporary directory (vitest.config.ts made it) when the whole run ends. */
export function teardown(): void {
  const dir = process.env.IDBRIDGE_TEST_TMPDIR;
  if (!dir) return;
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    // A mount a failed test left behind: say so rather than hide it.
    process.stderr.write(
      `could not remove the test run's temporary directory ${dir}: ${(err as Error).message}\n`,
    );
  }
}
