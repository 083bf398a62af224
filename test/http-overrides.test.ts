// Endpoint overrides in http mode (builtin data plane, in process): drain means no new request to
// the endpoint, on new connections and on a keep-alive connection that existed before the drain,
// while a request already on the endpoint finishes; a weight override moves the share of requests.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { Hitless } from '../src/hitless.js';
import { silentLogger } from '../src/observability/log.js';
import { adminRequest } from './helpers/admin.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { request } from './helpers/http-client.js';
import { portInRange } from './helpers/port-range.js';

describe('endpoint overrides, http mode', () => {
  let backends: HttpBackend[] = [];
  let h: Hitless | undefined;
  let port = 0;
  const dir = mkdtempSync(join(tmpdir(), 'hitless-http-overrides-'));
  const admin = join(dir, 'admin.sock');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const set = async (b: HttpBackend, body: unknown) => {
    const r = await adminRequest(admin, 'POST', `/overrides/web/${b.address}`, JSON.stringify(body));
    assert.equal(r.status, 200, r.text);
  };

  before(async () => {
    backends = await Promise.all(['b0', 'b1', 'b2'].map((n) => startHttpBackend(n)));
    port = await portInRange(['127.0.0.1']);
    const text = `admin: { listen: "unix:${admin}" }\nservices:\n  web:\n    mode: http\n    listen: "127.0.0.1:${port}"\n    endpoints: [${backends.map((b) => `"${b.address}"`).join(', ')}]\n`;
    h = await Hitless.start({ snapshot: parseConfig(text, join(dir, 'hitless.yaml')), log: silentLogger(), stateFile: join(dir, 'overrides.json') });
  });

  after(async () => {
    agent.destroy();
    await h?.stop(0);
    await Promise.all(backends.map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('drain: a request already on the endpoint finishes; no new request reaches it, keep-alive or not', async () => {
    // A keep-alive connection through hitless, used before the drain.
    const first = await request(port, '/', { agent });
    // A request held at b0 (round-robin reaches it within three requests).
    let heldOn: HttpBackend | undefined;
    let heldId = '';
    let pending: Promise<{ status: number; body: string }> | undefined;
    for (let i = 0; i < 3 && !heldOn; i++) {
      const id = `h${i}`;
      const reply = request(port, `/hold/${id}`);
      const arrived = await Promise.race(backends.map((b) => b.held(id).then(() => b)));
      if (arrived === backends[0]) {
        heldOn = arrived;
        heldId = id;
        pending = reply;
      } else {
        arrived.release(id);
        await reply;
      }
    }
    assert.ok(heldOn && pending, 'a held request reached b0');
    await set(backends[0], { state: 'drain' });
    const before = backends[0].requests;
    const names: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await request(port, '/', { agent });
      assert.equal(r.localPort, first.localPort, 'the same keep-alive connection');
      names.push(r.body);
      names.push((await request(port, '/')).body);
    }
    assert.ok(!names.includes('b0') && names.includes('b1') && names.includes('b2'), `requests went to ${names.join(',')}`);
    assert.equal(backends[0].requests, before, 'b0 received no new request');
    backends[0].release(heldId, 'finished');
    const done = await pending;
    assert.equal(done.status, 200);
    assert.equal(done.body, 'finished', 'the request on the drained endpoint finished');
  });

  it('weight: the share of requests follows the override', async () => {
    await set(backends[0], { state: 'ready' });
    await set(backends[2], { weight: 8 });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      const name = (await request(port, '/', { agent })).body;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    assert.ok((counts.b2 ?? 0) >= 30 && (counts.b0 ?? 0) > 0 && (counts.b1 ?? 0) > 0, `50 requests went ${JSON.stringify(counts)}`);
  });
});
