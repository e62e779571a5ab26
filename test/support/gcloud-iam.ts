import { afterAll, beforeAll } from 'vitest';
import { startFakeIamAdmin, type FakeIamAdmin } from '../fakes/iam-admin.js';
import { runWithGcloud, type GcloudResult } from './gcloud.js';
import { tempDir } from './serve.js';

export interface GcloudIam {
  /** The IAM admin fake the commands change (there once the block's tests run). */
  readonly iam: FakeIamAdmin;
  /** The scratch directory: gcloud's HOME and config, and room for files the commands read. */
  readonly dir: string;
  /** Runs printed commands (a bash script) with gcloud against the fake, within `timeoutMs`. */
  run(script: string): Promise<GcloudResult>;
}

/**
 * An IAM admin fake and a scratch directory for the gcloud runs of the enclosing describe block:
 * made before its tests, closed and removed after them.
 */
export function gcloudAgainstIamFake(timeoutMs: number): GcloudIam {
  let iam: FakeIamAdmin | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  beforeAll(async () => {
    iam = await startFakeIamAdmin();
    dir = await tempDir();
  });
  afterAll(async () => {
    await iam?.close();
    await dir?.remove();
  });
  return {
    get iam() {
      return iam!;
    },
    get dir() {
      return dir!.path;
    },
    run: (script) => runWithGcloud(script, iam!.url, dir!.path, timeoutMs),
  };
}
