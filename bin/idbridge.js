#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm start` and `npm test`).
// The metadata sidecar has its own entry, bundled into one file by scripts/bundle-sidecar.mjs, so it
// loads none of the other commands and starts fast (a per-pod cost).
const { main } = await import(
  process.argv[2] === 'metadata-server'
    ? '../dist/sidecar/metadata-main.js'
    : '../dist/src/cli/main.js'
);

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`idbridge: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
