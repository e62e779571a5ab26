// The docs' flag and configuration tables, rendered from the zod schemas and the commander
// definitions, so a variable, flag or default cannot change without its table changing too.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { z } from 'zod';
import { program } from '../src/cli/main.js';
import { environmentSchema } from '../src/config/config.js';
import { edgeEnvironmentSchema } from '../src/edge/config.js';
import { flagsSchema as syncFlagsSchema } from '../src/sync/command.js';
import { webhookEnvironmentSchema } from '../src/webhook/config.js';

/** What a table says about one schema field. */
export interface FieldDoc {
  name: string;
  meaning: string;
  default: string;
}

/** One block between `<!-- generated:NAME:start -->` and `<!-- generated:NAME:end -->`. */
export interface GeneratedBlock {
  page: string;
  name: string;
  render: () => string;
}

/** A docs page as it is on disk and as the generator would write it. */
export interface PageRender {
  page: string;
  current: string;
  expected: string;
}

type Shape = Record<string, z.ZodType>;

/** The meaning (with a number's accepted range) and the default of one field. */
export function fieldDoc(name: string, schema: z.ZodType): FieldDoc {
  const meta = z.globalRegistry.get(schema);
  if (!meta?.description) {
    throw new Error(`${name} has no description: add .describe('one sentence') to its schema`);
  }
  const range = numberRange(schema);
  const defaultText = typeof meta.defaultText === 'string' ? meta.defaultText : defaultOf(schema);
  return {
    name,
    meaning: range ? `${meta.description} (${range})` : meta.description,
    default: defaultText,
  };
}

/** `` `8787` `` for a static default; `—` when optional; `required` otherwise. */
function defaultOf(schema: z.ZodType): string {
  if (schema instanceof z.ZodDefault) return code(String(schema.def.defaultValue));
  if (schema instanceof z.ZodOptional) return '—';
  return 'required';
}

/** `min–max` of a number field, as the tables have always stated it. */
function numberRange(schema: z.ZodType): string | null {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional)
    inner = inner.unwrap() as z.ZodType;
  if (!(inner instanceof z.ZodNumber)) return null;
  const { minValue, maxValue } = inner;
  if (
    minValue === null ||
    maxValue === null ||
    !Number.isFinite(minValue) ||
    !Number.isFinite(maxValue)
  )
    return null;
  return `${minValue}–${maxValue}`;
}

const code = (text: string) => `\`${text}\``;
/** A table cell: a `|` would end the cell early. */
const cell = (text: string) => text.replace(/\|/g, '\\|');

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function fields(shape: Shape): FieldDoc[] {
  return Object.entries(shape).map(([name, schema]) => fieldDoc(name, schema));
}

function command(root: Command, path: string[]): Command {
  let found = root;
  for (const name of path) {
    const next = found.commands.find((candidate) => candidate.name() === name);
    if (!next) throw new Error(`no command idbridge ${path.join(' ')}`);
    found = next;
  }
  return found;
}

const optionByLong = (cmd: Command, long: string): Option | undefined =>
  cmd.options.find((option) => option.long === long);

/** `serve`'s flags name their variable in their help, `(env PORT, …)`: that is the flag column. */
function serveFlagOf(serve: Command): Map<string, string> {
  const flags = new Map<string, string>();
  for (const option of serve.options) {
    const variable = /\(env ([A-Z0-9_]+)/.exec(option.description)?.[1];
    if (variable && option.long) flags.set(variable, option.long);
  }
  return flags;
}

export function configurationTable(shape: Shape, serve: Command): string {
  const flags = serveFlagOf(serve);
  return table(
    ['variable', 'flag', 'meaning', 'default'],
    fields(shape).map((field) => [
      code(field.name),
      flags.has(field.name) ? code(flags.get(field.name)!) : '',
      field.meaning,
      field.default,
    ]),
  );
}

export function edgeTable(shape: Shape): string {
  return table(
    ['variable', 'meaning', 'default'],
    fields(shape).map((field) => [code(field.name), field.meaning, field.default]),
  );
}

/** The webhook's flag of a variable: `IDBRIDGE_WEBHOOK_` + the flag in capitals. */
export function webhookTable(shape: Shape, webhook: Command): string {
  return table(
    ['flag', 'variable', 'default', 'meaning'],
    fields(shape).map((field) => {
      const long = field.name.startsWith('IDBRIDGE_WEBHOOK_')
        ? `--${field.name.slice('IDBRIDGE_WEBHOOK_'.length).toLowerCase().replace(/_/g, '-')}`
        : undefined;
      const option = long ? optionByLong(webhook, long) : undefined;
      if (long && !option) throw new Error(`${field.name} has no flag ${long} in idbridge webhook`);
      return [
        option?.long ? code(option.long) : '—',
        code(field.name),
        field.default,
        field.meaning,
      ];
    }),
  );
}

/** Sync's options are commander flags parsed by one schema, camelCase of the flag. */
export function syncTable(shape: Shape, sync: Command): string {
  return table(
    ['flag', 'meaning', 'default'],
    fields(shape).map((field) => {
      const long = `--${field.name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
      const option = optionByLong(sync, long);
      if (!option)
        throw new Error(
          `sync flag schema field ${field.name} has no option ${long} in idbridge sync`,
        );
      return [code(option.flags), field.meaning, field.default];
    }),
  );
}

/** Every command with its usage, description and flags, as `--help` prints them. */
export function cliReference(root: Command): string {
  const sections: string[] = [];
  const visit = (cmd: Command, names: string[]) => {
    if (cmd.commands.length > 0 && cmd.options.length === 0) {
      for (const sub of cmd.commands) visit(sub, [...names, sub.name()]);
      return;
    }
    const usage = [`idbridge ${names.join(' ')}`, cmd.usage()].filter(Boolean).join(' ');
    const rows = cmd.options.map((option) => [
      code(option.flags),
      option.defaultValue === undefined
        ? option.description
        : `${option.description} (default ${String(option.defaultValue)})`,
    ]);
    sections.push(
      [
        `#### ${code(usage)}`,
        '',
        cmd.description(),
        ...(rows.length > 0 ? ['', table(['flag', 'meaning'], rows)] : []),
      ].join('\n'),
    );
    for (const sub of cmd.commands) visit(sub, [...names, sub.name()]);
  };
  for (const cmd of root.commands) visit(cmd, [cmd.name()]);
  return sections.join('\n\n');
}

/** Every generated block of the docs, where it lives and what renders it. */
export function generatedBlocks(): GeneratedBlock[] {
  const root = program();
  return [
    {
      page: 'docs/configuration.md',
      name: 'config',
      render: () => configurationTable(environmentSchema.shape, command(root, ['serve'])),
    },
    {
      page: 'docs/edge.md',
      name: 'edge-config',
      render: () => edgeTable(edgeEnvironmentSchema.shape),
    },
    {
      page: 'docs/webhook.md',
      name: 'webhook-flags',
      render: () => webhookTable(webhookEnvironmentSchema.shape, command(root, ['webhook'])),
    },
    {
      page: 'docs/sync.md',
      name: 'sync-flags',
      render: () => syncTable(syncFlagsSchema.shape, command(root, ['sync'])),
    },
    { page: 'docs/cli.md', name: 'cli', render: () => cliReference(root) },
  ];
}

const START = (name: string) => `<!-- generated:${name}:start -->`;
const END = (name: string) => `<!-- generated:${name}:end -->`;
const NOTE =
  '<!-- Written by `npm run docs` (scripts/gen-docs.ts): change the schema or the commander definition, not this block. -->';

/** The page with the block between its markers replaced; a page without the markers is an error. */
export function withBlock(text: string, name: string, body: string): string {
  const start = text.indexOf(START(name));
  const end = text.indexOf(END(name));
  if (start === -1 || end === -1 || end < start)
    throw new Error(`no ${START(name)} … ${END(name)} markers`);
  return `${text.slice(0, start)}${START(name)}\n${NOTE}\n\n${body}\n\n${text.slice(end)}`;
}

/** Every page holding a generated block, as it is and as `npm run docs` would write it. */
export async function renderPages(repoRoot: string): Promise<PageRender[]> {
  const byPage = new Map<string, GeneratedBlock[]>();
  for (const block of generatedBlocks())
    byPage.set(block.page, [...(byPage.get(block.page) ?? []), block]);
  const pages: PageRender[] = [];
  for (const [page, blocks] of byPage) {
    const current = await readFile(join(repoRoot, page), 'utf8');
    let expected = current;
    for (const block of blocks) {
      try {
        expected = withBlock(expected, block.name, block.render());
      } catch (err) {
        throw new Error(`${page}: ${(err as Error).message}`, { cause: err });
      }
    }
    pages.push({ page, current, expected });
  }
  return pages;
}
