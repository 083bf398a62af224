// Retries (only when safe) and health (active and passive) in http mode, against endpoints that
// fail in precise ways, die and come back; health state survives applies that keep the endpoint.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';
import { refusedPort, resetAfterBodyServer, resetReusedServer, startHttpBackend, type HttpBackend, type RawServer } from './helpers/http-backends.js';
import { httpConfig, request, type HttpService } from './helpers/http-client.js';

let hitless: HitlessProcess;
const port = { reuse: 0, postReset: 0, postRefused: 0, active: 0, passive: 0, passiveConnect: 0 };
let G: HttpBackend; // good
let H1: HttpBackend;
let H2: HttpBackend;
let E: HttpBackend; // answers 500 while told to
let C: HttpBackend; // dies, so connects to it are refused, then comes back
let resetter: RawServer;
let bodyResetter: RawServer;
let refused = 0;
const cleanup: Array<() => Promise<unknown> | unknown> = [];

interface EndpointDoc {
  address: string;
  health: string;
  total: number;
  failures: number;
  ejections: number;
}
async function endpoints(service: string): Promise<EndpointDoc[]> {
  const s = await hitless.status();
  return s.services.find((x) => x.name === service)!.endpoints as unknown as EndpointDoc[];
}
async function healthOf(service: string, address: string): Promise<string> {
  return (await endpoints(service)).find((e) => e.address === address)!.health;
}
const waitHealth = (service: string, b: { address: string }, want: string) =>
  waitFor(`${service} ${b.address} to be ${want}`, async () => (await healthOf(service, b.address)) === want, { timeoutMs: 10_000 });

function services(extra: { activeInterval?: string; retries?: number } = {}): Record<string, HttpService> {
  const at = (p: number) => `127.0.0.1:${p}`;
  return {
    reuse: { listen: at(port.reuse), endpoints: [resetter.address, G.address], retries: extra.retries ?? 2 },
    // Weights make the misbehaving endpoint the first pick of a fresh balancer.
    postReset: { listen: at(port.postReset), endpoints: [{ address: bodyResetter.address, weight: 100 }, { address: G.address, weight: 1 }] },
    postRefused: { listen: at(port.postRefused), endpoints: [{ address: `127.0.0.1:${refused}`, weight: 100 }, { address: G.address, weight: 1 }] },
    active: {
      listen: at(port.active),
      endpoints: [H1.address, H2.address],
      health: { active: { type: 'http', path: '/health', interval: extra.activeInterval ?? '100ms', timeout: '300ms', rise: 2, fall: 2 } },
    },
    passive: { listen: at(port.passive), endpoints: [E.address, G.address], health: { passive: { consecutive_failures: 3, ejection: '1500ms' } } },
    passiveConnect: { listen: at(port.passiveConnect), endpoints: [C.address, G.address], health: { passive: { consecutive_failures: 2, ejection: '1500ms' } } },
  };
}

before(async () => {
  [G, H1, H2, E, C] = await Promise.all(['G', 'H1', 'H2', 'E', 'C'].map((n) => startHttpBackend(n)));
  resetter = await resetReusedServer('R');
  bodyResetter = await resetAfterBodyServer();
  refused = await refusedPort();
  cleanup.push(...[G, H1, H2, E, C].map((b) => () => b.close()), () => resetter.close(), () => bodyResetter.close());
  for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await reservePort();
  // One worker: health (active checks, passive ejection counts) is each worker's own view, and
  // these tests count exactly how many answers it takes to change it.
  hitless = await HitlessProcess.start({ logLevel: 'warn', workers: 1, config: (admin) => httpConfig(admin, services()) });
  cleanup.unshift(() => hitless.kill());
});

after(async () => {
  for (const c of cleanup) await c();
});

describe('http retries', () => {
  it('GETs never see an endpoint resetting reused keep-alive connections', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const failures: string[] = [];
    const by = new Map<string, number>();
    try {
      for (let i = 0; i < 200; i++) {
        try {
          const r = await request(port.reuse, `/r${i}`, { agent });
          if (r.status !== 200) failures.push(`${i}: HTTP ${r.status} ${String(r.headers['x-hitless-error'])}`);
          by.set(r.body, (by.get(r.body) ?? 0) + 1);
        } catch (err) {
          failures.push(`${i}: ${(err as Error).message}`);
        }
      }
    } finally {
      agent.destroy();
    }
    const status = (await hitless.status()).services.find((s) => s.name === 'reuse') as unknown as { retries: number };
    console.log(`reused-connection resets: 200 GETs, ${failures.length} failed, ${resetter.resets} resets by R, ${status.retries} retries, answers ${JSON.stringify(Object.fromEntries(by))}`);
    assert.deepEqual(failures, []);
    assert.ok(resetter.resets >= 10, `R reset only ${resetter.resets} reused connections: the case was not exercised`);
    assert.ok(status.retries >= resetter.resets, 'every reset was retried');
    assert.ok((by.get('R') ?? 0) > 0 && (by.get('G') ?? 0) > 0, 'both endpoints answered');
  });

  it('a POST whose body was sent before the reset is not retried (502)', async () => {
    const gBefore = G.log.filter((l) => l.method === 'POST').length;
    const r = await request(port.postReset, '/submit', { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-hitless-error'], 'HITLESS_ERR_UPSTREAM_RESET');
    assert.equal(bodyResetter.resets, 1, 'the body reached the resetting endpoint');
    assert.equal(G.log.filter((l) => l.method === 'POST').length, gBefore, 'the POST was not replayed on another endpoint');
  });

  it('a POST whose connect was refused is retried on another endpoint', async () => {
    const body = 'payload-'.repeat(500);
    const r = await request(port.postRefused, '/echo', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { name: string; method: string; body: string };
    assert.equal(seen.name, 'G');
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body, body, 'the retried POST carried its whole body');
    const s = (await hitless.status()).services.find((x) => x.name === 'postRefused') as unknown as { retries: number };
    assert.equal(s.retries, 1);
  });
});

describe('http health', () => {
  it('active checks take a dead endpoint out and bring it back when it returns', async () => {
    await waitHealth('active', H1, 'up');
    await H1.die();
    await waitHealth('active', H1, 'down');
    const before = H2.requests;
    for (let i = 0; i < 20; i++) {
      const r = await request(port.active, '/');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'H2', 'traffic avoids the dead endpoint');
    }
    assert.equal(H2.requests - before, 20);
    // A live endpoint whose health URL fails is taken out too.
    H2.healthy = false;
    await waitHealth('active', H2, 'down');
    const none = await request(port.active, '/');
    assert.equal(none.status, 503);
    H2.healthy = true;
    await H1.revive();
    await waitHealth('active', H1, 'up');
    await waitHealth('active', H2, 'up');
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await request(port.active, '/')).body);
    assert.deepEqual([...seen].sort(), ['H1', 'H2'], 'the revived endpoint gets traffic again');
  });

  it('passive ejection: consecutive 5xx eject an endpoint for the back-off period, then it returns', async () => {
    E.failWith = 500;
    let fives = 0;
    for (let i = 0; i < 20 && (await healthOf('passive', E.address)) !== 'ejected'; i++) {
      const r = await request(port.passive, '/');
      if (r.status === 500) fives++;
    }
    assert.equal(await healthOf('passive', E.address), 'ejected');
    assert.equal(fives, 3, 'E was ejected after exactly consecutive_failures 5xx answers');
    const eBefore = E.requests;
    for (let i = 0; i < 10; i++) assert.equal((await request(port.passive, '/')).body, 'G');
    assert.equal(E.requests, eBefore, 'no traffic to the ejected endpoint');
    E.failWith = null;
    await waitHealth('passive', E, 'up');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await request(port.passive, '/')).body);
    assert.ok(seen.has('E'), 'E is back in rotation after the ejection period');
  });

  it('passive ejection on connect failures: clients see no error, the endpoint returns when it is back', async () => {
    await C.die();
    const failures: string[] = [];
    for (let i = 0; i < 20 && (await healthOf('passiveConnect', C.address)) !== 'ejected'; i++) {
      const r = await request(port.passiveConnect, '/');
      if (r.status !== 200 || r.body !== 'G') failures.push(`HTTP ${r.status} ${r.body}`);
    }
    assert.deepEqual(failures, [], 'refused connects were retried on G');
    assert.equal(await healthOf('passiveConnect', C.address), 'ejected');
    await C.revive();
    await waitHealth('passiveConnect', C, 'up');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await request(port.passiveConnect, '/')).body);
    assert.ok(seen.has('C'));
  });

  it('health state and counters survive an apply that keeps the endpoint', async () => {
    // Active: H1 down before the apply stays down after it (and its checks keep running).
    await H1.die();
    await waitHealth('active', H1, 'down');
    E.failWith = 500;
    for (let i = 0; i < 20 && (await healthOf('passive', E.address)) !== 'ejected'; i++) await request(port.passive, '/');
    assert.equal(await healthOf('passive', E.address), 'ejected');
    const before = { active: await endpoints('active'), passive: await endpoints('passive') };

    // Change the health settings (interval) and retries: new runtimes, same endpoint identities.
    const res = await hitless.put(httpConfig(hitless.admin, services({ activeInterval: '150ms', retries: 3 })));
    assert.equal(res.status, 200, res.text);
    const afterApply = { active: await endpoints('active'), passive: await endpoints('passive') };
    const find = (list: EndpointDoc[], b: { address: string }) => list.find((e) => e.address === b.address)!;
    assert.equal(find(afterApply.active, H1).health, 'down', 'H1 is still down right after the apply');
    assert.equal(find(afterApply.passive, E).health, 'ejected', 'E is still ejected right after the apply');
    for (const [svc, b] of [['active', H1], ['active', H2], ['passive', E], ['passive', G]] as const) {
      const x = find(before[svc], b);
      const y = find(afterApply[svc], b);
      assert.ok(y.total >= x.total && y.failures >= x.failures && y.ejections >= x.ejections, `${svc} ${b.name}: counters kept (${JSON.stringify(x)} → ${JSON.stringify(y)})`);
    }
    assert.ok(find(afterApply.passive, E).ejections >= 1);
    for (let i = 0; i < 5; i++) assert.equal((await request(port.active, '/')).body, 'H2');
    // The checks still run under the new settings: H1 comes back.
    E.failWith = null;
    await H1.revive();
    await waitHealth('active', H1, 'up');
  });
});
