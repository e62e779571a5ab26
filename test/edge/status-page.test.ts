import { existsSync } from 'node:fs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeWorker, type EdgeWorkerHarness } from '../support/edge-worker.js';
import { generateClusterKey, jwksOf, type ClusterKey } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { tempDir } from '../support/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('edge Worker in workerd: status page in headless Chromium', () => {
  let origin: ScriptedOrigin;
  let edge: EdgeWorkerHarness;
  let profile: Awaited<ReturnType<typeof tempDir>>;
  let browser: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let rsa: ClusterKey;
  let ec384: ClusterKey;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}; the status page test needs it: apt-get install -y chromium (bash .ci/run installs it)`,
      );
    }
    origin = await startScriptedOrigin({ delayMs: 0 });
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    rsa = generateClusterKey('RS256');
    ec384 = generateClusterKey('ES384');
    origin.publish('web', jwksOf(rsa, ec384), publicUrl);
    origin.publish('legacy', jwksOf(rsa), publicUrl);
    edge = await startEdgeWorker(
      {
        IDBRIDGE_PUBLIC_URL: publicUrl,
        IDBRIDGE_ORIGIN: origin.url,
        IDBRIDGE_EDGE_FRESH_SECONDS: '0',
        IDBRIDGE_STATUS_CLUSTERS: 'web',
      },
      { port },
    );

    // "legacy" is served once, then its origin breaks: the edge keeps serving its last good copy.
    expect((await fetch(`${edge.url}/legacy/openid/v1/jwks`)).status).toBe(200);
    origin.fail('legacy', 'status-500');

    profile = await tempDir('idbridge-chromium-');
    browser = await chromium.launchPersistentContext(profile.path, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
    });
    page = await browser.newPage();
    page.setDefaultTimeout(5000);
    // Script errors and CSP violations; a 404 page being a 404 is what the test asks for.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
  });
  afterAll(async () => {
    await browser?.close();
    await profile?.remove();
    await edge?.close();
    await origin?.close();
  });

  it('lists the registered cluster with its key ids, algorithms and refresh times, and warns about ES384', async () => {
    const res = await page.goto(`${edge.url}/`);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe('idbridge edge issuer');
    const web = page.locator('#cluster-web');
    await web.waitFor();
    expect(await web.locator('h2').innerText()).toMatch(/^web\s+serving$/);
    const rows = await web.locator('table.keys tbody tr').allInnerTexts();
    expect(rows.map((row) => row.split('\t').map((cell) => cell.trim()))).toEqual([
      [rsa.kid, 'RS256', 'accepted'],
      [ec384.kid, 'ES384', 'refused'],
    ]);
    expect(await web.locator('.jwks-changed time').getAttribute('datetime')).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/,
    );
    expect(await web.locator('.warnings').innerText()).toContain(
      'signs ES384, which Google STS refuses',
    );
    const box = await web.boundingBox();
    expect(box!.width).toBeGreaterThan(200);
    expect(box!.height).toBeGreaterThan(100);
  });

  it('marks a cluster served from a stale copy, with why and until when', async () => {
    await page.goto(`${edge.url}/`);
    const legacy = page.locator('#cluster-legacy');
    expect(await legacy.locator('.badge').innerText()).toBe('serving a stale copy');
    expect(await legacy.getAttribute('class')).toContain('serving-stale');
    expect(await legacy.locator('.warnings').innerText()).toMatch(
      /serving a stale copy: the origin failed .*HTTP 500.* is served until \d{4}-/,
    );
  });

  it('shows one cluster at /{cluster} and answers an unknown or hostile one with a 404 page that runs nothing', async () => {
    const one = await page.goto(`${edge.url}/web`);
    expect(one?.status()).toBe(200);
    expect(await page.locator('section.cluster').count()).toBe(1);
    expect(await page.locator('#cluster-web table.keys').isVisible()).toBe(true);

    for (const path of [
      '/no-such-cluster',
      '/%3Cscript%3Ealert(1)%3C%2Fscript%3E',
      '/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E',
    ]) {
      const res = await page.goto(`${edge.url}${path}`);
      expect(res?.status(), path).toBe(404);
      expect(await page.locator('p.empty').innerText()).toMatch(
        /^No cluster ".*" is published here/,
      );
      expect(await page.locator('script, img').count()).toBe(0);
    }
    expect(problems).toEqual([]);
  });
});
