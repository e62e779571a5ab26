import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gcpSetupPlan } from '../../src/gcp-setup/plan.js';
import { REPO_ROOT, startServe } from '../support/serve.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

/** A documentation page: the README's sections now live in docs/ (issue #12). */
const page = (path: string) => readFile(join(REPO_ROOT, path), 'utf8');
/** The README and every docs page, for statements that must hold anywhere in the docs. */
async function allDocs(): Promise<string> {
  const docs = (await readdir(join(REPO_ROOT, 'docs'))).filter((name) => name.endsWith('.md'));
  const pages = await Promise.all(['README.md', ...docs.map((name) => `docs/${name}`)].map(page));
  return pages.join('\n');
}

function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`the page has no section ${heading}`);
  const level = heading.split(' ')[0]!;
  const next = text.slice(start + heading.length + 2).search(new RegExp(`\\n${level} `));
  return text.slice(start, next === -1 ? undefined : start + heading.length + 2 + next);
}

/** The map of a gcloud --attribute-mapping=k=v,k=v value, with the CEL quotes normalised. */
function mapping(value: string): Record<string, string> {
  return Object.fromEntries(
    value.split(',').map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1).replace(/"/g, "'")];
    }),
  );
}

/** Issue #11, item 9: README statements that were wrong, held true by a test. */
describe('README statements', () => {
  it("the Broker section's provider is the one gcp-setup prints for the same issuer", async () => {
    const broker = section(await page('docs/broker.md'), '## Broker');
    const shown = /--attribute-mapping='([^']+)'/.exec(broker)?.[1];
    const plan = gcpSetupPlan({
      projectNumber: '123456789',
      pool: 'idbridge',
      issuer: 'https://edge.example.com/c1',
    });
    const printed = plan.steps
      .flatMap((step) => step.argv)
      .find((arg) => arg.startsWith('--attribute-mapping='))!
      .slice('--attribute-mapping='.length);
    expect(mapping(shown!)).toEqual(mapping(printed));
    expect(broker).toContain(`providers create-oidc ${plan.provider.provider} `);
  });

  it('a bad id in a POST body is invalid_request, as the error-code list says', async () => {
    const text = section(await page('docs/api.md'), '## Registration API');
    expect(text).toMatch(/`invalid_request` — a malformed body, including a bad `id` in a `POST`/);
    const server = await startServe();
    try {
      const res = await fetch(`${server.url}/api/v1/clusters`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.adminToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ id: 'Bad_Id', jwks: jwksOf(generateClusterKey()) }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'invalid_request',
      );
      const path = await fetch(`${server.url}/api/v1/clusters/Bad_Id`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      });
      expect(((await path.json()) as { error: { code: string } }).error.code).toBe(
        'invalid_cluster_id',
      );
    } finally {
      await server.close();
    }
  });

  it('no longer claims the provider id is the cluster id, and the wrangler dev origin has its own data dir', async () => {
    const text = await allDocs();
    expect(text).not.toMatch(/provider id defaults to the cluster id/);
    expect(
      section(await page('docs/edge.md'), '### `wrangler dev` against a local origin'),
    ).toMatch(/IDBRIDGE_STORE=file:\.\/data-edge /);
  });
});
