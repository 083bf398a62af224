// The live dashboard in a real browser (Debian Chromium via playwright-core) against the real
// `hitless run` process: its elements are there, its numbers move while a client sends requests,
// an apply shows up with its diff, and a screenshot is taken and checked. Skips, saying why,
// when Chromium or playwright-core is missing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort } from './helpers/ports.js';
import { rawExchange } from './helpers/http-client.js';
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
  checked:
    mode: http
    listen: 127.0.0.1:${await reservePort()}
    endpoints: [${backends[2].address}]
    health: { active: { type: http, path: /healthz, interval: 300ms, timeout: 300ms, rise: 1, fall: 1 } }
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
    assert.ok(cells.length > 7, `row of ${service}: ${JSON.stringify(cells)}`);
    return parseShown(cells[7]);
  };

  it('shows services, endpoints, listeners and applies, and its numbers move under traffic', async () => {
    const { page } = browser!;
    // The token travels in the fragment, which the browser never sends to the server.
    await page.goto(`http://127.0.0.1:${admin}/dashboard#token=${TOKEN}`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    await page.waitForSelector('#services tr[data-service="web"]', { timeout: 10_000 });
    assert.equal(await page.locator('#services tr').count(), 3);
    assert.equal(await page.locator('#endpoints tr').count(), 4);
    assert.equal(await page.locator(`#endpoints tr[data-endpoint="web/default/${backends[0].address}"] .pill.up`).count(), 1);
    assert.equal(await page.locator('#listeners tr').count(), 3);
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
      await waitFor('the new endpoint row', async () => (await page.locator('#endpoints tr').count()) === 5 || undefined);
      // The chart has points.
      await waitFor('chart lines', async () => (await page.locator('#chart polyline').count()) === 2 || undefined);

      // Why an endpoint is out: its active check's answer.
      const checked = `#endpoints tr[data-endpoint="checked/default/${backends[2].address}"]`;
      await waitFor('the failing check and its reason', async () => {
        const text = (await page.locator(`${checked} td.why`).allTextContents())[0] ?? '';
        return text.includes('HTTP 503') ? text : undefined;
      });
      assert.equal(await page.locator(`${checked} .pill.down`).count(), 1);

      // Errors by code: hitless's own 400 (no Host) and 503 (no healthy endpoint), and the endpoint's 503s.
      assert.equal((await rawExchange(web, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).text.split(' ')[1], '400');
      const checkedPort = Number(/checked:\n {4}mode: http\n {4}listen: 127\.0\.0\.1:(\d+)/.exec(config)![1]);
      assert.equal((await rawExchange(checkedPort, 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')).text.split(' ')[1], '503');
      await waitFor('the error rows', async () => {
        const own400 = await page.locator('#errors tr[data-service="web"][data-code="400"]').allTextContents();
        const own503 = await page.locator('#errors tr[data-service="checked"][data-code="503"]').allTextContents();
        const fromEndpoints = await page.locator('#errors tr[data-service="api"][data-code="5xx"]').allTextContents();
        return own400[0]?.includes('HITLESS_ERR_BAD_REQUEST') && own503[0]?.includes('HITLESS_ERR_NO_HEALTHY_ENDPOINT') && fromEndpoints[0]?.includes('endpoints') ? true : undefined;
      });

      // Processes: the supervisor and each worker, with an event-loop lag.
      await waitFor('process rows with their lag', async () => {
        const workers = await page.locator('#processes tr[data-role="worker"] td.lag').allTextContents();
        const supervisor = await page.locator('#processes tr[data-role="supervisor"]').count();
        return supervisor === 1 && workers.length >= 1 && workers.every((t) => /^[\d.]+$/.test(t)) ? workers : undefined;
      });
      assert.match((await page.textContent('#k-lag')) ?? '', /^[\d.]+ ms$/);

      // The filter box: only what matches stays, at once.
      await page.fill('#filter', 'api');
      await waitFor('the filtered tables', async () => ((await page.locator('#services tr').count()) === 1 && (await page.locator('#endpoints tr').count()) === 1) || undefined);
      assert.deepEqual(await page.locator('#services tr').allTextContents().then((rows) => rows.map((r) => r.slice(0, 3))), ['api']);
      await page.fill('#filter', '');
      await waitFor('every row back', async () => (await page.locator('#services tr').count()) === 3 || undefined);

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
