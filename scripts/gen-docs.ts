// `npm run docs`: rewrites the generated tables of docs/ from the schemas and commander
// definitions; `npm run docs -- --check` only says which pages are out of date (exit 1).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderPages } from './docs-tables.js';

const repoRoot = join(import.meta.dirname, '..');
const check = process.argv.includes('--check');

const stale = (await renderPages(repoRoot)).filter((page) => page.current !== page.expected);
for (const page of stale) {
  if (!check) await writeFile(join(repoRoot, page.page), page.expected);
  process.stdout.write(`${check ? 'out of date' : 'updated'}: ${page.page}\n`);
}
if (check && stale.length > 0) process.exitCode = 1;
