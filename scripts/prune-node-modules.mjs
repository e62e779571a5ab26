// Removes from a node_modules tree what nothing loads at run time: type declarations, source maps,
// TypeScript sources and Markdown docs (licence and notice files are kept), and native prebuilds
// for platforms other than this one (the build stage runs on the image's platform). Used by the
// image's build stage; prints the bytes removed. Usage: node scripts/prune-node-modules.mjs DIR
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const DROP = /(\.d\.[cm]?ts|\.[cm]?ts|\.map|\.md|\.markdown)$/i;
const KEEP = /^(licen[cs]e|notice|copying)/i;
// node-gyp-build's layout: prebuilds/<platform>-<arch>[-libc]/…
const PLATFORM = `${process.platform}-${process.arch}`;

function size(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, name) => total + size(join(path, name)), 0);
}

function prune(dir) {
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name === 'prebuilds') {
      for (const target of readdirSync(path, { withFileTypes: true })) {
        if (!target.isDirectory() || target.name.startsWith(PLATFORM)) continue;
        removed += size(join(path, target.name));
        rmSync(join(path, target.name), { recursive: true });
      }
      removed += prune(path);
    } else if (entry.isDirectory()) removed += prune(path);
    else if (entry.isFile() && DROP.test(entry.name) && !KEEP.test(entry.name)) {
      removed += statSync(path).size;
      rmSync(path);
    }
  }
  return removed;
}

const root = process.argv[2];
if (!root) {
  console.error('usage: node scripts/prune-node-modules.mjs DIR');
  process.exit(2);
}
console.log(`pruned ${(prune(root) / 1048576).toFixed(1)} MiB from ${root}`);
