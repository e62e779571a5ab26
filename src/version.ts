import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest package.json named idbridge above this module (src/ in tests, dist/src/ when built, /app in the image). */
function readVersion(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'idbridge' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* no package.json here: look one level up */
    }
    if (dirname(dir) === dir) return '0.0.0-unknown';
  }
}

/** This release's version, from package.json: `idbridge --version`, /healthz and the image label agree. */
export const VERSION = readVersion(dirname(fileURLToPath(import.meta.url)));
