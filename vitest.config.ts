import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Every temporary file of a run (the suites', their child processes', miniflare's, podman's) goes
// under one directory of its own, removed by test/support/run-tmpdir.ts when the run ends, so
// the suite leaves nothing behind in /tmp.
const runTmpdir =
  process.env.IDBRIDGE_TEST_TMPDIR ?? mkdtempSync(join(tmpdir(), 'idbridge-tests-'));
process.env.IDBRIDGE_TEST_TMPDIR = runTmpdir;
process.env.TMPDIR = runTmpdir;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers (serve, workerd, fakes) on loopback; two cores run two files.
    maxWorkers: 2,
    env: { TMPDIR: runTmpdir, IDBRIDGE_TEST_TMPDIR: runTmpdir },
    globalSetup: ['test/support/run-tmpdir.ts'],
  },
});
