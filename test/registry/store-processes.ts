import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FileStore } from '../../src/registry/file-store.js';
import { REPO_ROOT, tempDir } from '../support/serve.js';

/** The built registry modules, which the child processes import (npm test builds first). */
export const DIST = join(REPO_ROOT, 'dist/src/registry');

/** Runs an ES module snippet in a fresh node process, its stdout and stderr on pipes. */
export function nodeSnippet(code: string, args: string[]) {
  return spawn(process.execPath, ['--input-type=module', '-e', code, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A file store in a temporary directory, holding record `id` at version 1 with no keys. */
export async function seededFileStore(id: string, syncSubject: string) {
  const dir = await tempDir();
  const store = await FileStore.open(dir.path);
  const now = new Date().toISOString();
  await store.put(
    {
      id,
      issuer: `https://issuer.example/${id}`,
      syncSubject,
      keys: [],
      keyEvents: [],
      createdAt: now,
      updatedAt: now,
      version: 1,
    },
    null,
  );
  return { dir, store };
}
