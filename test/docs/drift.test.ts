import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configurationTable, fieldDoc, renderPages, withBlock } from '../../scripts/docs-tables.js';
import { environmentSchema } from '../../src/config/config.js';
import { REPO_ROOT } from '../support/serve.js';

/** The README, CONTRIBUTING.md, bench/README.md and every page under docs/. */
async function markdownPages(): Promise<string[]> {
  const docs = (await readdir(join(REPO_ROOT, 'docs'))).filter((name) => name.endsWith('.md'));
  return ['README.md', 'CONTRIBUTING.md', 'bench/README.md', ...docs.map((name) => `docs/${name}`)];
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced && /^#{1,6} /.test(line)) {
      found.add(
        line
          .replace(/^#+\s*/, '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}_\- ]/gu, '')
          .replace(/ /g, '-'),
      );
    }
  }
  return found;
}

/** The text outside code: a regex like `([-a-z0-9]{0,61})` in a code span is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^\s*```[\s\S]*?^\s*```/gm, '').replace(/`[^`\n]*`/g, '');
}

describe('docs drift (issue #12)', () => {
  it('every generated table is what the schemas and commander definitions say now', async () => {
    const pages = await renderPages(REPO_ROOT);
    expect(pages.map((page) => page.page).sort()).toEqual([
      'docs/cli.md',
      'docs/configuration.md',
      'docs/edge.md',
      'docs/sync.md',
      'docs/webhook.md',
    ]);
    for (const page of pages) {
      expect(page.current, `${page.page} is out of date: run npm run docs`).toBe(page.expected);
    }
  });

  it('a changed default or a new variable changes the configuration table', () => {
    const serve = new Command('serve');
    const today = configurationTable(environmentSchema.shape, serve);
    const changed = environmentSchema.extend({
      PORT: z.coerce.number().int().min(0).max(65535).default(9999).describe('listen port'),
      IDBRIDGE_NEW_KNOB: z.string().optional().describe('a knob added later'),
    });
    const after = configurationTable(changed.shape, serve);
    expect(after).not.toBe(today);
    expect(after).toContain('| `PORT` |  | listen port (0–65535) | `9999` |');
    expect(after).toContain('| `IDBRIDGE_NEW_KNOB` |  | a knob added later | — |');
  });

  it('refuses a schema field without a description, naming it', () => {
    expect(() => fieldDoc('IDBRIDGE_UNDOCUMENTED', z.string().optional())).toThrow(
      /IDBRIDGE_UNDOCUMENTED has no description/,
    );
  });

  it('refuses a page whose markers are missing, instead of appending a table somewhere', () => {
    expect(() => withBlock('# a page\n', 'config', 'table')).toThrow(
      /no <!-- generated:config:start -->/,
    );
  });

  it('every relative link between the docs resolves, inside the repository, to a heading that exists', async () => {
    const broken: string[] = [];
    for (const page of await markdownPages()) {
      const text = await readFile(join(REPO_ROOT, page), 'utf8');
      for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, fragment] = target!.split('#');
        const file = path ? normalize(join(dirname(page), path)) : page;
        if (file.startsWith('..') || relative(REPO_ROOT, join(REPO_ROOT, file)).startsWith('..')) {
          broken.push(`${page}: ${target} leaves the repository`);
          continue;
        }
        const linked = await readFile(join(REPO_ROOT, file), 'utf8').catch(() => null);
        if (linked === null) broken.push(`${page}: ${target} (no such file)`);
        else if (fragment && file.endsWith('.md') && !anchors(linked).has(fragment))
          broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
