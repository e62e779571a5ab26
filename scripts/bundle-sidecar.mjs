// Bundles `idbridge metadata-server` (dist/src/cli/metadata-main.js, compiled by tsc) into
// dist/sidecar/: the sidecar starts in every pod, and loading zod, commander and jose as one
// file instead of a few hundred modules halves its start-up CPU (bench/README.md, metadata).
// The Kubernetes client stays external: only node mode loads it, lazily, from node_modules.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/sidecar`;

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: [`${root}dist/src/cli/metadata-main.js`],
  outdir,
  bundle: true,
  splitting: true,
  minify: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@kubernetes/client-node'],
  // CommonJS dependencies bundled into ESM call require(); give them Node's.
  banner: {
    js: "import { createRequire as __idbridgeRequire } from 'node:module'; const require = __idbridgeRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
