// The dashboard's certificates table in a real browser, on both data planes: every certificate a
// service terminates TLS with, soonest expiry first, coloured by the verdict `hitless status` uses
// (certificate-expiry.ts). Real short-lived certificates (2 and 10 days) come from a test CA; one
// carries HTML in its subject and in a DNS name, which the page must show as text, never run.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { haproxyMissing } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { hasOpenssl, opensslDate, TestCa } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';
import { httpRequest, spawnHitless, startBackend, waitReady, type Backend, type RunningHitless } from './observability-helpers.js';
import { browserMissing, launchBrowser, type Browser } from './dashboard-browser.js';
import { CERT_EXPIRY_CRITICAL_DAYS, CERT_EXPIRY_WARN_DAYS } from '../src/dataplane/certificate-expiry.js';

const TOKEN = 'dashboard-certs-token-0123456789';
const HOSTILE_CN = '<img src=x onerror=window.pwned=1>';
const HOSTILE_NAME = '<img/src=x/onerror=window.pwned=2>';
const missing = (await browserMissing()) ?? (hasOpenssl() ? null : 'the openssl CLI is not installed');

type CertRow = { service: string; names: string[]; subject: string; daysLeft: number; expiry: string };

for (const plane of ['builtin', 'haproxy'] as const) {
  const skip = missing ?? (plane === 'haproxy' && haproxyMissing ? haproxyMissing : null);
  describe(`dashboard certificates (${plane} data plane)`, { skip: skip ?? false }, () => {
    let ca: TestCa;
    let backend: Backend;
    let h: RunningHitless | undefined;
    let browser: Browser | undefined;
    let admin = 0;
    const auth = { authorization: `Bearer ${TOKEN}` };

    before(async () => {
      ca = new TestCa();
      backend = await startBackend(200);
      const day = 86_400_000;
      // Two and a half days: critical. Ten and a half: soon. Thirty: fine.
      const critical = ca.issue(HOSTILE_CN, { names: ['crit.test', HOSTILE_NAME], endDate: opensslDate(Date.now() + 2.5 * day) });
      const soon = ca.issue('soon.test', { endDate: opensslDate(Date.now() + 10.5 * day) });
      const fine = ca.issue('fine.test');
      admin = await reservePort();
      const tls = (c: { cert: string; key: string }) => `{ certificates: [{ cert: "${c.cert}", key: "${c.key}" }] }`;
      const dataplane = plane === 'haproxy' ? 'dataplane: { driver: haproxy, haproxy: { state_dir: "$DIR/haproxy" } }\n' : '';
      h = spawnHitless(`admin: { listen: "127.0.0.1:${admin}", token: "${TOKEN}" }
${dataplane}services:
  fine:
    mode: http
    listen: 127.0.0.1:${await reservePort()}
    endpoints: [${backend.address}]
    tls: ${tls(fine)}
  hostile:
    mode: http
    listen: 127.0.0.1:${await reservePort()}
    endpoints: [${backend.address}]
    tls: ${tls(critical)}
  soon:
    mode: tcp
    listen: 127.0.0.1:${await reservePort()}
    endpoints: [${backend.address}]
    tls: ${tls(soon)}
  plain:
    mode: http
    listen: 127.0.0.1:${await reservePort()}
    endpoints: [${backend.address}]
`);
      await waitReady(h, { host: '127.0.0.1', port: admin }, TOKEN);
      browser = await launchBrowser();
    });

    after(async () => {
      await browser?.close();
      await h?.kill();
      await backend?.close();
      ca?.close();
    });

    it('GET /dashboard/data lists each certificate, soonest first, with the shared verdict', async () => {
      const res = await httpRequest({ host: '127.0.0.1', port: admin }, 'GET', '/dashboard/data', undefined, auth);
      assert.equal(res.status, 200, res.text);
      const d = JSON.parse(res.text) as { certificates: CertRow[]; certificateThresholds: { soonDays: number; criticalDays: number } };
      assert.deepEqual(d.certificateThresholds, { soonDays: CERT_EXPIRY_WARN_DAYS, criticalDays: CERT_EXPIRY_CRITICAL_DAYS });
      assert.deepEqual(
        d.certificates.map((c) => [c.service, c.daysLeft, c.expiry]),
        [
          ['hostile', 2, 'critical'],
          ['soon', 10, 'soon'],
          ['fine', 29, 'ok'],
        ],
      );
      assert.deepEqual(d.certificates[0].names, ['crit.test', HOSTILE_NAME.toLowerCase()]);
      assert.ok(d.certificates[0].subject.includes('<img src=x onerror=window.pwned=1'), d.certificates[0].subject);
    });

    it('shows the table in Chromium, coloured by expiry, with HTML from the certificate as text', async () => {
      const { page } = browser!;
      await page.goto(`http://127.0.0.1:${admin}/dashboard#token=${TOKEN}`);
      await page.waitForSelector('#conn.up', { timeout: 10_000 });
      await waitFor('the certificate rows', async () => ((await page.locator('#certificates tr').count()) === 3 ? true : undefined));
      assert.equal(await page.locator('#certificates tr.cert-critical[data-service="hostile"]').count(), 1);
      assert.equal(await page.locator('#certificates tr.cert-soon[data-service="soon"]').count(), 1);
      assert.equal(await page.locator('#certificates tr.cert-ok[data-service="fine"]').count(), 1);
      const order = (await page.locator('#certificates tr').allTextContents()).map((t) => /^(hostile|soon|fine)/.exec(t)?.[1]);
      assert.deepEqual(order, ['hostile', 'soon', 'fine']);
      const cells = await page.locator('#certificates tr[data-service="hostile"] td').allTextContents();
      assert.equal(cells[1], `crit.test, ${HOSTILE_NAME.toLowerCase()}`);
      assert.ok(cells[2].includes('<img src=x onerror=window.pwned=1'), `the subject as text: ${cells[2]}`);
      assert.equal(cells[4], '2');
      assert.equal(cells[5], 'critical');
      // Shown as text: no element was made from it, and nothing it carries ran.
      assert.equal(await page.locator('img').count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned ?? null), null);
      assert.match((await page.textContent('#certificates-note')) ?? '', new RegExp(`under ${CERT_EXPIRY_WARN_DAYS} days left, red under ${CERT_EXPIRY_CRITICAL_DAYS}`));
      // The filter reaches certificate names too.
      await page.fill('#filter', 'soon');
      await waitFor('the filtered certificates', async () => ((await page.locator('#certificates tr').count()) === 1 ? true : undefined));
      await page.fill('#filter', '');
    });
  });
}

if (missing) {
  describe('dashboard certificates', () => {
    it(`is skipped: ${missing}`, { skip: missing }, () => {});
  });
}
