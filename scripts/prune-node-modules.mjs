// Removes from a node_modules tree what nothing loads at run time: type declarations, source maps,
// TypeScript sources and Markdown docs (licence and notice files are kept). Used by the image's
// build stage; prints the bytes removed. Usage: node scripts/prune-node-modules.mjs DIR
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const DROP = /(\.d\.[cm]?ts|\.[cm]?ts|\.map|\.md|\.markdown)$/i;
const KEEP = /^(licen[cs]e|notice|copying)/i;

function prune(dir) {
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removed += prune(path);
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
