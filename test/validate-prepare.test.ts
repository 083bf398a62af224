// POST /config/validate on a running `hitless run` is the apply path minus the commit: the data
// plane prepares (new ports bound, runtimes built, every worker prepared) and aborts. So it
// reports a port held by another process exactly as PUT /config would (409 BIND_FAILED, naming
// the address), and it changes nothing: same config hash, same apply history, same listening
// sockets (inode), no port left bound, and no client ever accepted on a port it bound. With one
// process (--workers 0) and with a supervisor of two workers. (The HAProxy data plane's
// validation is tested in haproxy-driver.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApplyRecordDoc, ErrorDoc, StatusDoc } from './helpers/admin.js';
import { loopback, renderConfig, type ServiceSpec } from './helpers/config-text.js';
import { startEchoServers, type EchoServer } from './helpers/echo-server.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { bindable, listenInAnotherProcess, probeConnect, reservePort, type ConnectOutcome } from './helpers/ports.js';
import { echoOnce } from './helpers/tcp-client.js';

interface ValidateDoc {
  valid: boolean;
  summary: string;
  plan: { listeners: { add: string[] } };
  prepared: { driver: string; bound: string[]; commit: string } | null;
}

interface BindFailedDoc extends ErrorDoc {
  error: ErrorDoc['error'] & { details: Array<{ address: string; errno: string; message: string }> };
}

/** What a validation must leave as it was. */
function fingerprint(status: StatusDoc) {
  return {
    hash: status.config?.hash,
    applies: status.applies,
    listeners: status.listeners.map((l) => ({ address: l.address, state: l.state, socket: l.socket })).sort((a, b) => a.address.localeCompare(b.address)),
    services: status.services.map((s) => [s.name, s.endpoints.map((e) => e.address)]),
  };
}

for (const workers of [0, 2]) {
  describe(`POST /config/validate prepares and aborts (hitless run --workers ${workers})`, () => {
    let backends: EchoServer[] = [];
    let h: HitlessProcess;
    let port = 0;
    let services: Record<string, ServiceSpec> = {};
    /** The text running now. */
    let running = '';

    before(async () => {
      backends = await startEchoServers(2);
      port = await reservePort();
      services = { echo: { listen: loopback(port), endpoints: [backends[0].address] } };
      h = await HitlessProcess.start({ workers, config: (admin) => (running = renderConfig({ admin, services })) });
    });

    after(async () => {
      await h?.kill();
      await Promise.all(backends.map((b) => b.close()));
    });

    const validate = (text: string) => h.request('POST', '/config/validate', text, { 'content-type': 'application/yaml' });

    it('a listen port held by another process → 409 HITLESS_ERR_BIND_FAILED with the address; nothing changed, nothing left bound', async () => {
      const taken = await reservePort();
      const free = await reservePort();
      const foreign = await listenInAnotherProcess(taken);
      try {
        const before = fingerprint(await h.status());
        const text = renderConfig({
          admin: h.admin,
          services: {
            echo: { ...services.echo, endpoints: [backends[1].address] },
            fine: { listen: loopback(free), endpoints: [backends[1].address] },
            clash: { listen: loopback(taken), endpoints: [backends[1].address] },
          },
        });
        const res = await validate(text);
        assert.equal(res.status, 409, res.text);
        const { error } = res.json<BindFailedDoc>();
        const message = `cannot listen on ${loopback(taken)}: address already in use (another process, or another listener of this config, holds it); choose a free port or stop what holds it (try: ss -ltnp 'sport = :${taken}')`;
        assert.equal(error.code, 'HITLESS_ERR_BIND_FAILED');
        assert.equal(error.message, `config rejected, nothing changed: ${message}`);
        assert.deepEqual(error.details, [{ address: loopback(taken), errno: 'EADDRINUSE', message }]);

        assert.deepEqual(fingerprint(await h.status()), before, 'config hash, apply history, listening sockets and services unchanged');
        // The free port was bound first, then given back when the taken one failed.
        assert.equal(await bindable(free), true, `${loopback(free)} is free again`);
        assert.deepEqual(await echoOnce(port), { ok: true }, 'the running config still serves');
      } finally {
        await foreign.stop();
      }
    });

    it('a valid config: 200 with the plan and what was prepared; no client accepted on the new port meanwhile, and it is free afterwards', async () => {
      const free = await reservePort();
      const before = fingerprint(await h.status());
      const text = renderConfig({ admin: h.admin, services: { ...services, more: { listen: loopback(free), endpoints: [backends[1].address] } } });
      // Connect to the new port, again and again, while it is validated 20 times: a socket that
      // is bound but not listening refuses, where a listening one would accept a client and then
      // reset it when the validation aborts.
      let done = false;
      const outcomes = new Map<ConnectOutcome, number>();
      const prober = (async () => {
        for (let i = 0; i < 10_000 && !done; i++) {
          const outcome = await probeConnect(free, 1_000);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const replies = [];
      try {
        for (let i = 0; i < 20; i++) replies.push(await validate(text));
      } finally {
        done = true;
        await prober;
      }
      const res = replies[0];
      for (const r of replies) assert.equal(r.text, res.text, 'every validation answers the same');
      assert.equal(res.status, 200, res.text);
      const body = res.json<ValidateDoc>();
      assert.equal(body.valid, true);
      assert.equal(body.summary, 'services +1 -0 ~0; listeners +1 -0');
      assert.deepEqual(body.plan.listeners.add, [loopback(free)]);
      assert.equal(body.prepared?.driver, 'builtin');
      assert.deepEqual(body.prepared?.bound, [loopback(free)]);
      assert.match(body.prepared?.commit ?? '', workers === 0 ? /^swap$/ : /^2 workers prepared \(2 with a patch, 0 with the whole config\)$/);
      console.log(`# connects during the validation: ${JSON.stringify([...outcomes])}`);
      assert.deepEqual([...outcomes.keys()], ['refused'], `every connect during the validation was refused: ${JSON.stringify([...outcomes])}`);

      assert.deepEqual(fingerprint(await h.status()), before, 'config hash, apply history, listening sockets and services unchanged');
      assert.equal(await bindable(free), true, `${loopback(free)} is free again`);

      // The same config applies afterwards: the validation left no prepared change behind.
      const applied = await h.put(text);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.json<ApplyRecordDoc>().result, 'applied');
      running = text;
      assert.deepEqual(await echoOnce(free), { ok: true });
      const after = await h.status();
      const kept = (s: StatusDoc) => s.listeners.find((l) => l.address === loopback(port))?.socket;
      assert.equal(kept(after), before.listeners.find((l) => l.address === loopback(port))?.socket, 'the kept listener keeps its socket');
    });

    it('the running config itself: 200, nothing to prepare', async () => {
      const before = fingerprint(await h.status());
      const res = await validate(running);
      assert.equal(res.status, 200, res.text);
      const body = res.json<ValidateDoc>();
      assert.equal(body.summary, 'no changes');
      assert.equal(body.prepared, null);
      assert.deepEqual(fingerprint(await h.status()), before);
    });
  });
}
