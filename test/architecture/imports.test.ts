import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import direction of the tree (issue 12): entries → hosts → app → capabilities → shared.
 * A module may import its own folder, any lower layer, and (capabilities only) other
 * capabilities not forbidden below; nothing imports upward.
 */
const ROOT = resolve(import.meta.dirname, '../..');

/** The one table: the layer of every top-level folder (src/<folder>, or a root folder). */
const LAYERS = {
  entries: ['bin', 'worker', 'functions', 'src/cli', 'src/demo'],
  hosts: ['src/hosts'],
  app: ['src/app'],
  capabilities: [
    'src/admin-client',
    'src/api',
    'src/broker',
    'src/cloud-setup',
    'src/credentials',
    'src/doctor',
    'src/edge',
    'src/fleet',
    'src/gcp-setup',
    'src/gcs',
    'src/issuer',
    'src/metadata',
    'src/registry',
    'src/sync',
    'src/verify',
    'src/webhook',
    'src/whoami',
  ],
  shared: [
    'src/config',
    'src/errors',
    'src/http',
    'src/log',
    'src/net',
    'src/oidc',
    'src/report',
    'src/version',
  ],
} as const;
type Layer = keyof typeof LAYERS;
const RANK: Record<Layer, number> = { entries: 4, hosts: 3, app: 2, capabilities: 1, shared: 0 };

/** Capability pairs that must not import each other although both are capabilities. */
const FORBIDDEN_BETWEEN_CAPABILITIES: ReadonlyArray<
  readonly [from: string, to: string, why: string]
> = [
  [
    'src/gcs',
    'src/issuer',
    'the GCS client stores bytes; publishing documents is a mirror beside it',
  ],
  ['src/registry', 'src/issuer', 'the registry and its stores know records, not the issuer routes'],
];

/** The top-level folder (table key) of a repository path, e.g. src/broker/routes.ts → src/broker. */
function folderOf(path: string): string | undefined {
  // bin/ launches the built CLI: dist/src/… is src/….
  const parts = path.replace(/^dist\//, '').split('/');
  // A single module at the top of src/ (src/errors.ts, src/errors-*.ts) belongs to its folder name.
  const single =
    parts.length === 2 && parts[0] === 'src'
      ? `src/${parts[1]!.replace(/\.ts$/, '').replace(/^errors[-.].*$/, 'errors')}`
      : '';
  return [parts.slice(0, 2).join('/'), parts[0]!, single].find(
    (candidate) => layerOf(candidate) !== undefined,
  );
}

function layerOf(folder: string): Layer | undefined {
  return (Object.keys(LAYERS) as Layer[]).find((layer) =>
    (LAYERS[layer] as readonly string[]).includes(folder),
  );
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import of a file (static `from '…'`, side-effect `import '…'`, dynamic `import('…')`), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm),
  ].map((match) => match[1]!);
  return specifiers
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
}

/** The rule an import breaks, or undefined. */
function violation(from: string, to: string): string | undefined {
  const fromFolder = folderOf(from);
  const toFolder = folderOf(to);
  if (!fromFolder || !toFolder)
    return `${!fromFolder ? from : to} is in no layer: add its folder to LAYERS`;
  if (fromFolder === toFolder) return undefined;
  const fromLayer = layerOf(fromFolder)!;
  const toLayer = layerOf(toFolder)!;
  if (RANK[toLayer] > RANK[fromLayer])
    return `${fromLayer} (${fromFolder}) imports ${toLayer} (${toFolder}): layers import downward only`;
  if (fromFolder === 'src/oidc' && toLayer === 'shared' && !OIDC_MAY_IMPORT.has(toFolder))
    return 'src/oidc is a leaf: it imports only src/errors, src/log, src/net and src/config';
  if (fromLayer !== toLayer) return undefined;
  if (fromLayer === 'entries' || fromLayer === 'hosts') return undefined;
  const forbidden = FORBIDDEN_BETWEEN_CAPABILITIES.find(
    ([a, b]) => a === fromFolder && b === toFolder,
  );
  return forbidden ? `${fromFolder} must not import ${toFolder}: ${forbidden[2]}` : undefined;
}

/** The shared leaves src/oidc may use (src/http is route plumbing, not a leaf). */
const OIDC_MAY_IMPORT = new Set(['src/errors', 'src/log', 'src/net', 'src/config']);

function allImports(): Array<{ from: string; to: string }> {
  const files = ['src', 'worker', 'functions', 'bin'].flatMap(sourceFiles);
  return files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));
}

describe('import direction (entries → hosts → app → capabilities → shared)', () => {
  it('has a layer for every top-level folder of src/', () => {
    const folders = readdirSync(join(ROOT, 'src')).map(
      (name) => `src/${name.replace(/\.ts$/, '')}`,
    );
    expect(folders.filter((folder) => layerOf(folder) === undefined)).toEqual([]);
  });

  it('finds the imports it judges (the scan is not vacuous)', () => {
    const imports = allImports();
    expect(imports.length).toBeGreaterThan(300);
    expect(imports).toContainEqual({
      from: 'functions/index.ts',
      to: 'src/hosts/functions/handler.ts',
    });
    expect(imports).toContainEqual({
      from: 'src/cli/commands/webhook.ts',
      to: 'src/hosts/node/webhook.ts',
    }); // dynamic import()
  });

  it('judges upward imports, capability → host and capability → app, and the oidc leaf', () => {
    expect(violation('src/broker/routes.ts', 'src/hosts/node/request-body.ts')).toMatch(
      /capabilities \(src\/broker\) imports hosts/,
    );
    expect(violation('src/webhook/app.ts', 'src/app/compose.ts')).toMatch(/imports app/);
    expect(violation('src/http/errors.ts', 'src/api/schemas.ts')).toMatch(
      /shared \(src\/http\) imports capabilities/,
    );
    expect(violation('src/hosts/node/serve.ts', 'src/cli/io.ts')).toMatch(
      /hosts .* imports entries/,
    );
    expect(violation('src/oidc/jwks.ts', 'src/issuer/paths.ts')).toMatch(
      /shared \(src\/oidc\) imports capabilities/,
    );
    expect(violation('src/oidc/jwks.ts', 'src/http/errors.ts')).toMatch(/leaf/);
    expect(violation('src/registry/gcs-store.ts', 'src/issuer/published.ts')).toMatch(
      /must not import src\/issuer/,
    );
    expect(violation('src/issuer/routes.ts', 'src/http/route.ts')).toBeUndefined();
    expect(violation('src/hosts/node/serve.ts', 'src/app/compose.ts')).toBeUndefined();
  });

  it('no import runs upward, and no capability imports a host or the app', () => {
    const broken = allImports()
      .map(({ from, to }) => ({ at: `${from} → ${to}`, rule: violation(from, to) }))
      .filter(({ rule }) => rule !== undefined);
    expect(broken).toEqual([]);
  });
});
