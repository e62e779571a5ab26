import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/serve.js';

const run = promisify(execFile);
const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
};

/** Every container image in `kubectl kustomize DIR`. */
async function images(dir: string): Promise<string[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(REPO_ROOT, dir)], {
    maxBuffer: 10 * 1024 * 1024,
  });
  const found: string[] = [];
  for (const object of loadAllYaml(stdout) as Array<Record<string, any>>) {
    const pod = object.spec?.jobTemplate?.spec?.template?.spec ?? object.spec?.template?.spec;
    for (const container of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])])
      found.push(container.image);
  }
  return found;
}

describe('one image name and tag for every kustomize base', () => {
  it("sync, webhook and its cert-manager variant run the same image, tagged with package.json's version", async () => {
    const expected = `idbridge/webhook:${pkg.version}`;
    for (const dir of ['infra/k8s/sync', 'infra/k8s/webhook', 'infra/k8s/webhook/cert-manager'])
      expect(await images(dir), dir).toEqual([expected]);
  });

  it('the name and tag are set in one place: the infra/k8s/image component', async () => {
    for (const file of [
      'infra/k8s/sync/kustomization.yaml',
      'infra/k8s/webhook/base/kustomization.yaml',
    ]) {
      expect(await readFile(join(REPO_ROOT, file), 'utf8'), file).not.toMatch(/^images:/m);
    }
    expect(await readFile(join(REPO_ROOT, 'infra/k8s/image/kustomization.yaml'), 'utf8')).toMatch(
      new RegExp(`newTag: ${pkg.version.replace(/\./g, '\\.')}\\n`),
    );
  });
});
