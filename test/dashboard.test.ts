// The live dashboard in a real browser (Debian Chromium via playwright-core) against the real
// `hitless run` process: its elements are there, its numbers move while a client sends requests,
// an apply shows up with its diff, and a screenshot is taken and checked. Skips, saying why,
// when Chromium or playwright-core is missing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { backgroundTraffic, httpRequest, spawnHitless, startBackend, waitReady, type Backend, type RunningHitless } from './observability-helpers.js';
import { browserMissing, launchBrowser, pngSize, type Browser } from './dashboard-browser.js';

const TOKEN = 'dashboard-test-token-0123456789';
const missing = await browserMissing();

describe('dashboard in Chromium', { skip: missing ?? false }, () => {
  let backends: Backend[] = [];
  let h: RunningHitless | undefined;
  let browser: Browser | undefined;
  let admin = 0;
  let web = 0;
  let config = '';
  const auth = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    backends = [await startBackend(200), await startBackend(200), await startBackend(503)];
    admin = await reservePort();
    web = await reservePort();
    config = `admin: { listen: "127.0.0.1:${admin}", token: "${TOKEN}" }
services:
  web:
    mode: http
    listen: 127.0.0.1:${web}
    endpoints: [${backends[0].address}, ${backends[1].address}]
  api:
    mode: http
    listen: 127.0.0.1:${await reservePort()}
    endpoints: [${backends[2].address}]
`;
    h = spawnHitless(config);
    await waitReady(h, { host: '127.0.0.1', port: admin }, TOKEN);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await h?.kill();
    await Promise.all(backends.map((b) => b.close()));
  });

  /** The "total" cell of a service's row, as the page shows it. */
  const shownTotal = async (service: string): Promise<number> => {
    const cells = await browser!.page.locator(`#services tr[data-service="${service}"] td`).allTextContents();
    assert.ok(cells.length > 6, `row of ${service}: ${JSON.stringify(cells)}`);
    return parseShown(cells[6]);
  };

  it('shows services, endpoints, listeners and applies, and its numbers move under traffic', async () => {
    const { page } = browser!;
    // The token travels in the fragment, which the browser never sends to the server.
    await page.goto(`http://127.0.0.1:${admin}/dashboard#token=${TOKEN}`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    await page.waitForSelector('#services tr[data-service="web"]', { timeout: 10_000 });
    assert.equal(await page.locator('#services tr').count(), 2);
    assert.equal(await page.locator('#endpoints tr').count(), 3);
    assert.equal(await page.locator(`#endpoints tr[data-endpoint="web/default/${backends[0].address}"] .pill.up`).count(), 1);
    assert.equal(await page.locator('#listeners tr').count(), 2);
    assert.ok((await page.locator('#applies li').count()) >= 1, 'the startup apply is listed');
    assert.match((await page.textContent('#instance')) ?? '', /pid \d+/);

    const traffic = backgroundTraffic(web);
    try {
      const first = await waitFor('the page to show web requests', async () => {
        const n = await shownTotal('web');
        return n > 0 ? n : undefined;
      });
      // Read the DOM again: the same cell must have grown while the client kept sending.
      const second = await waitFor('the shown total to grow', async () => {
        const n = await shownTotal('web');
        return n > first ? n : undefined;
      });
      assert.ok(second > first, `${second} > ${first}`);
      await waitFor('a non-zero request rate', async () => {
        const rps = Number((await page.textContent('#k-rps')) ?? '0');
        return rps > 0 ? rps : undefined;
      });
      // Errors: 503s from the api service's backend show in the error rate.
      const apiPort = Number(/api:\n {4}mode: http\n {4}listen: 127\.0\.0\.1:(\d+)/.exec(config)![1]);
      // Until the rate is seen (bounded by the wait): a fixed burst could fall between two samples.
      const errors = backgroundTraffic(apiPort);
      await waitFor('a non-zero error rate', async () => {
        const eps = Number((await page.textContent('#k-eps')) ?? '0');
        return eps > 0 ? eps : undefined;
      });
      await errors.stop();

      // An apply (an endpoint added) appears with its diff by name.
      const changed = config.replace(`[${backends[0].address}, ${backends[1].address}]`, `[${backends[0].address}, ${backends[1].address}, ${backends[2].address}]`);
      const res = await httpRequest({ host: '127.0.0.1', port: admin }, 'PUT', '/config', changed, { ...auth, 'content-type': 'application/yaml' });
      assert.equal(res.status, 200, res.text);
      await waitFor('the apply in the list', async () => {
        const items = await page.locator('#applies li').allTextContents();
        return items[0]?.includes(`+ endpoints: web/${backends[2].address}`) ? items : undefined;
      });
      await waitFor('the new endpoint row', async () => (await page.locator('#endpoints tr').count()) === 4 || undefined);
      // The chart has points.
      await waitFor('chart lines', async () => (await page.locator('#chart polyline').count()) === 2 || undefined);

      const path = join(tmpdir(), `hitless-dashboard-${process.pid}.png`);
      const png = await page.screenshot({ path, fullPage: false });
      const size = pngSize(png);
      assert.equal(size.width, 1400);
      assert.equal(size.height, 1000);
      assert.ok(png.length > 20_000, `a screenshot with content (${png.length} bytes at ${path})`);
    } finally {
      await traffic.stop();
    }
  });
});

if (missing) {
  describe('dashboard in Chromium', () => {
    it(`is skipped: ${missing}`, { skip: missing }, () => {});
  });
}

/** The page shows 12345 as "12.3k" and 1234567 as "1.2M". */
function parseShown(text: string): number {
  const m = /^([\d.]+)([kMG]?)$/.exec(text.trim());
  assert.ok(m, `a number as the page shows it: ${JSON.stringify(text)}`);
  return Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]];
}
