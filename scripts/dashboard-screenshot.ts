// Takes docs/dashboard.png: the dashboard of a real `hitless run` under traffic, with applies,
// errors and a down endpoint, in the same headless Chromium the dashboard test uses.
// Run: npm run build && node --import tsx scripts/dashboard-screenshot.ts [seconds-of-traffic]
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { reservePort } from '../test/helpers/ports.js';
import { httpRequest, spawnHitless, startBackend, waitReady } from '../test/observability-helpers.js';
import { browserMissing, launchBrowser } from '../test/dashboard-browser.js';

const OUT = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
const SECONDS = Number(process.argv[2] ?? 60);
const TOKEN = 'screenshot-token-0123456789';

const missing = await browserMissing();
if (missing) {
  process.stderr.write(`cannot take the screenshot: ${missing}\n`);
  process.exit(1);
}

const backends = [await startBackend(200), await startBackend(200), await startBackend(200), await startBackend(200), await startBackend(503)];
const [admin, web, api, db] = [await reservePort(), await reservePort(), await reservePort(), await reservePort()];
const gone = await reservePort(); // nothing listens: active health checks mark it down
const configFor = (webEndpoints: string[]): string => `admin: { listen: "127.0.0.1:${admin}", token: "${TOKEN}" }
services:
  web:
    mode: http
    listen: 127.0.0.1:${web}
    balance: least-conn
    endpoints: [${webEndpoints.join(', ')}]
    health: { active: { type: http, interval: 1s, fall: 1 } }
  api:
    mode: http
    listen: 127.0.0.1:${api}
    endpoints: [${backends[2].address}, ${backends[4].address}]
  db:
    mode: tcp
    listen: 127.0.0.1:${db}
    endpoints: [${backends[3].address}]
`;
const h = spawnHitless(configFor([backends[0].address, backends[1].address, `127.0.0.1:${gone}`]));
const browser = await launchBrowser({ width: 1400, height: 1000 });
let running = true;
try {
  await waitReady(h, { host: '127.0.0.1', port: admin }, TOKEN);
  const started = Date.now();
  // Traffic whose rate swings, so the chart has a shape: 1-6 concurrent clients.
  const client = async (id: number, port: number, path: string) => {
    while (running) {
      const phase = Math.sin((Date.now() - started) / 7000) * 2.5 + 4;
      if (id > phase) {
        await sleep(200);
        continue;
      }
      await httpRequest({ host: '127.0.0.1', port }, 'GET', path).catch(() => {});
      await sleep(2);
    }
  };
  const tcpClient = async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: db }, () => s.end('GET / HTTP/1.0\r\n\r\n'));
        s.resume();
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
      await sleep(50);
    }
  };
  // A client that forgets Host now and then: hitless answers it 400 itself (errors by code).
  const hostless = async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: web }, () => s.write('GET /old-client HTTP/1.1\r\nConnection: close\r\n\r\n'));
        s.resume();
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
      await sleep(700);
    }
  };
  const loops = [1, 2, 3, 4, 5, 6].map((i) => client(i, web, `/page/${i}`));
  loops.push(client(1, api, '/v1/items'), client(2, api, '/v1/users'), tcpClient(), hostless());
  await browser.page.goto(`http://127.0.0.1:${admin}/dashboard#token=${TOKEN}`);
  const put = (text: string) => httpRequest({ host: '127.0.0.1', port: admin }, 'PUT', '/config', text, { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' });
  await sleep((SECONDS * 1000) / 3);
  await put(configFor([backends[0].address, backends[1].address, backends[2].address, `127.0.0.1:${gone}`]));
  await sleep((SECONDS * 1000) / 3);
  await put('services: [oops]\n'); // a rejected apply, as it shows
  await put(configFor([backends[1].address, backends[2].address, `127.0.0.1:${gone}`]));
  await sleep((SECONDS * 1000) / 3);
  await browser.page.screenshot({ path: OUT, fullPage: true });
  process.stdout.write(`wrote ${OUT}\n`);
  running = false;
  await Promise.all(loops);
} finally {
  running = false;
  await browser.close();
  await h.kill();
  await Promise.all(backends.map((b) => b.close()));
}
