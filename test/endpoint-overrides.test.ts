// Runtime endpoint overrides (hitless endpoint drain|maint|ready|weight, POST/DELETE /overrides)
// over real processes: `hitless run` with 2 workers and with none, three TCP echo backends that
// also count the health checks they receive. Drain: no new connection reaches the endpoint while
// an established one through it keeps working (each worker checked alone); maint: the same, and
// its health checks stop at the backend; weight: the distribution follows it. PUT /config, SIGHUP,
// the endpoint leaving and coming back (config and discovery), a crashed worker, a code upgrade and a restart (the state
// file) all keep the overrides; clear restores the configured behaviour. Generated requests never
// crash hitless nor change another endpoint.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AdminReply } from './helpers/admin.js';
import { runCli } from './helpers/cli.js';
import { portInRange } from './helpers/port-range.js';
import { SupervisedHitless, alive } from './helpers/process-harness.js';
import { countTags, EchoClient, startTaggedEchoes, tagsOf, type TaggedEchoSet } from './helpers/tagged-echo.js';
import { waitFor } from './helpers/wait.js';

interface Override {
  state: string | null;
  weight: number | null;
  since: string;
  by: string;
}
interface Endpoint {
  address: string;
  weight: number;
  health: string;
  override?: Override;
}
interface Status {
  services: Array<{ name: string; endpoints: Endpoint[] }>;
  lastApply: { origin: string; result: string } | null;
  overrides: { stateFile: string | null; stateFileError: string | null; overrides: Array<Override & { service: string; address: string; present: boolean }> };
  process?: { generation: number; workers: Array<{ pid: number; state: string; generation: number; inSync: boolean }> };
}

/** Ports from the tests' range (below the ephemeral range, so a restart can bind the same port again). */
const listenPort = () => portInRange(['127.0.0.1']);

/** `discoveryFile`: the endpoints come from that file (a discovery source) instead of the list. */
function configText(admin: string, port: number, endpoints: readonly string[], connectTimeout = '2s', discoveryFile?: string): string {
  return [
    `admin: { listen: "${admin}" }`,
    'discovery_defaults: { coalesce: 10ms }',
    'services:',
    '  echo:',
    '    mode: tcp',
    `    listen: "127.0.0.1:${port}"`,
    discoveryFile ? `    discovery: { file: { path: "${discoveryFile}" }, max_drop_percent: 100 }` : `    endpoints: [${endpoints.map((e) => `"${e}"`).join(', ')}]`,
    `    timeouts: { connect: ${connectTimeout} }`,
    '    health: { active: { type: http, path: /healthz, interval: 200ms, timeout: 1s, rise: 1, fall: 2 } }',
    '',
  ].join('\n');
}

for (const workers of [2, 0]) {
  describe(`endpoint overrides, hitless run --workers ${workers}`, () => {
    let echoes: TaggedEchoSet;
    let h: SupervisedHitless | undefined;
    let dir = '';
    let port = 0;
    let admin = '';
    const paused = new Set<number>();
    const held: EchoClient[] = [];
    let held0: EchoClient | null = null;
    const addr = (i: number) => echoes.backends[i].address;

    const start = async () => {
      h = await SupervisedHitless.start({ workers, dir, config: (a) => ((admin = a), configText(a, port, [addr(0), addr(1), addr(2)])) });
      return h;
    };
    const status = async () => (await h!.request('GET', '/status')).json<Status>();
    const endpoint = (s: Status, i: number) => s.services.find((x) => x.name === 'echo')!.endpoints.find((e) => e.address === addr(i))!;
    const set = (i: number | string, body: unknown): Promise<AdminReply> =>
      h!.request('POST', `/overrides/echo/${typeof i === 'number' ? addr(i) : i}`, JSON.stringify(body));
    const clear = (i: number): Promise<AdminReply> => h!.request('DELETE', `/overrides/echo/${addr(i)}`);
    const ok = async (reply: Promise<AdminReply>) => {
      const r = await reply;
      assert.equal(r.status, 200, r.text);
      return r.json<{ override: Override | null; present: boolean; persisted: boolean; warnings: string[] }>();
    };
    /** Every worker ready and running the supervisor's config (no-op without workers). */
    const settled = () =>
      waitFor('every worker ready and in sync', async () => {
        const s = await status();
        if (!s.process) return s;
        const ready = s.process.workers.filter((w) => w.state === 'ready');
        return ready.length === workers && ready.every((w) => w.inSync) ? s : undefined;
      }, { timeoutMs: 20_000 });
    /** `check` passes with each ready worker serving alone (the others paused); once without workers. */
    const eachWorker = async (check: (who: string) => Promise<void>) => {
      const s = await settled();
      if (!s.process) return check('the process');
      const ready = s.process.workers.filter((w) => w.state === 'ready');
      for (const w of ready) {
        const others = ready.filter((x) => x !== w);
        for (const o of others) {
          process.kill(o.pid, 'SIGSTOP');
          paused.add(o.pid);
        }
        try {
          await check(`worker ${w.pid} (generation ${w.generation})`);
        } finally {
          for (const o of others) {
            process.kill(o.pid, 'SIGCONT');
            paused.delete(o.pid);
          }
        }
      }
    };
    const noNewConnectionsTo = async (i: number, n = 12) =>
      eachWorker(async (who) => {
        const before = echoes.backends[i].connections;
        const tags = await tagsOf(port, n);
        assert.ok(!tags.includes(`b${i}`) && !tags.includes('error') && !tags.includes('closed'), `${who}: new connections went to ${JSON.stringify(countTags(tags))}`);
        assert.equal(echoes.backends[i].connections, before, `${who}: b${i} received no new connection`);
      });

    before(async () => {
      echoes = await startTaggedEchoes(3);
      dir = mkdtempSync(join(tmpdir(), 'hitless-overrides-'));
      port = await listenPort();
      await start();
    });

    after(async () => {
      for (const pid of paused) if (alive(pid)) process.kill(pid, 'SIGCONT');
      for (const c of held) c.close();
      await h?.kill();
      await echoes?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('drain: no new connection reaches the endpoint; an established one through it keeps working', async () => {
      await settled();
      // A long-lived connection on b0 (round-robin reaches it within a few connections per worker).
      for (let i = 0; i < 30 && !held0; i++) {
        const { client, tag } = await EchoClient.open(port);
        held.push(client);
        if (tag === 'b0') held0 = client;
      }
      assert.ok(held0, 'a connection reached b0');
      const answer = await ok(set(0, { state: 'drain' }));
      assert.equal(answer.override?.state, 'drain');
      assert.equal(answer.present, true);
      assert.deepEqual(answer.warnings, []);
      await noNewConnectionsTo(0);
      assert.equal(await held0.ask('ping'), 'b0 ping', 'the established connection to b0 still works');
      const s = await status();
      assert.equal(endpoint(s, 0).override?.state, 'drain');
      assert.equal(endpoint(s, 0).weight, 0, 'status shows the weight in effect');
      assert.match(endpoint(s, 0).override!.by, /unix/);
      const metrics = (await h!.request('GET', '/metrics')).text;
      const series = metrics.split('\n').filter((l) => l.startsWith('hitless_endpoint_override{'));
      assert.equal(series.length, 1, series.join('\n'));
      assert.match(series[0], new RegExp(`endpoint="${addr(0)}".*state="drain".* 1$`));
      // Drain keeps b0's health checks going.
      await echoes.backends[0].moreHealthChecks(3);
    });

    it('maint: no new connection either, and its health checks stop', async () => {
      const b1 = echoes.backends[1];
      const b2 = echoes.backends[2];
      await ok(set(2, { state: 'maint' }));
      const checksAtMaint = b2.healthChecks;
      await noNewConnectionsTo(2);
      // Ten checks of b1 span several intervals of every checker; b2 may get the one in flight per process.
      await b1.moreHealthChecks(10);
      assert.ok(b2.healthChecks - checksAtMaint <= Math.max(1, workers), `b2 received ${b2.healthChecks - checksAtMaint} health checks in maintenance`);
      assert.equal(await held0!.ask('still there'), 'b0 still there');
      // Ready again: checks and traffic come back (b0 stays drained).
      const back = await ok(set(2, { state: 'ready' }));
      assert.equal(back.override, null, 'ready with no weight override leaves no override');
      await b2.moreHealthChecks(2);
      await waitFor('b2 serving again', async () => (await tagsOf(port, 6)).includes('b2'));
    });

    it('weight: the distribution follows the override', async () => {
      await ok(set(0, { state: 'ready' }));
      await ok(set(1, { weight: 8 }));
      const s = await status();
      assert.equal(endpoint(s, 1).weight, 8);
      assert.deepEqual(
        [0, 1, 2].map((i) => endpoint(s, i).override?.weight ?? null),
        [null, 8, null],
      );
      const counts = countTags(await tagsOf(port, 60));
      const [b0, b1, b2] = [counts.b0 ?? 0, counts.b1 ?? 0, counts.b2 ?? 0];
      // 8:1:1 gives b1 48 of 60 with smooth round-robin; the direction is what is checked.
      assert.ok(b1 >= 36 && b1 > 2 * (b0 + b2) && b0 > 0 && b2 > 0, `60 connections went ${JSON.stringify(counts)}`);
    });

    it('PUT /config, the endpoint leaving and coming back (config and discovery), and SIGHUP keep the overrides', async () => {
      await ok(set(0, { state: 'drain' }));
      const put = async (text: string) => {
        const r = await h!.request('PUT', '/config', text);
        assert.equal(r.status, 200, r.text);
        await settled();
      };
      // A changed config (another connect timeout) with the same endpoints.
      await put(configText(admin, port, [addr(0), addr(1), addr(2)], '3s'));
      await noNewConnectionsTo(0);
      // b0 leaves the service, then comes back: its override waits for it, then applies.
      await put(configText(admin, port, [addr(1), addr(2)], '3s'));
      const gone = await status();
      assert.equal(gone.overrides.overrides.find((o) => o.address === addr(0))?.present, false);
      await put(configText(admin, port, [addr(0), addr(1), addr(2)], '3s'));
      await noNewConnectionsTo(0);
      assert.equal(endpoint(await status(), 1).weight, 8, 'the weight override survived too');
      // The same through discovery (a file source): b0 leaves the registry, then comes back.
      const file = join(dir, 'echo.json');
      const register = (list: readonly string[]) => {
        writeFileSync(`${file}.tmp`, JSON.stringify(list.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) }))));
        renameSync(`${file}.tmp`, file);
      };
      const endpointCount = async (n: number) => waitFor(`${n} discovered endpoints`, async () => (await settled()).services.find((x) => x.name === 'echo')!.endpoints.length === n);
      register([addr(0), addr(1), addr(2)]);
      await put(configText(admin, port, [], '3s', file));
      await endpointCount(3);
      register([addr(1), addr(2)]);
      await endpointCount(2);
      register([addr(0), addr(1), addr(2)]);
      await endpointCount(3);
      await noNewConnectionsTo(0);
      assert.equal(endpoint(await status(), 0).override?.state, 'drain');
      // SIGHUP re-reads the file (with yet another timeout).
      writeFileSync(join(dir, 'hitless.yaml'), configText(admin, port, [addr(0), addr(1), addr(2)], '4s'));
      process.kill(h!.child.pid!, 'SIGHUP');
      await waitFor('the SIGHUP apply', async () => {
        const s = await status();
        return s.lastApply?.origin === 'sighup' && s.lastApply.result === 'applied';
      });
      await settled();
      await noNewConnectionsTo(0);
      const s = await status();
      assert.equal(endpoint(s, 0).override?.state, 'drain');
      assert.equal(endpoint(s, 1).weight, 8);
      assert.equal(await held0!.ask('after applies'), 'b0 after applies');
    });

    it('a crashed worker and the next generation after a code upgrade run with the overrides', { skip: workers === 0 ? 'no workers' : false }, async () => {
      const before = await settled();
      const victim = before.process!.workers.find((w) => w.state === 'ready')!;
      process.kill(victim.pid, 'SIGKILL');
      await waitFor('the crashed worker replaced', async () => {
        const s = await status();
        const ready = s.process!.workers.filter((w) => w.state === 'ready');
        return ready.length === 2 && !ready.some((w) => w.pid === victim.pid);
      }, { timeoutMs: 20_000 });
      await noNewConnectionsTo(0);
      const upgrade = await h!.upgrade();
      assert.equal(upgrade.status, 200, upgrade.text);
      const s = await settled();
      assert.ok(s.process!.workers.filter((w) => w.state === 'ready').every((w) => w.generation === s.process!.generation));
      await noNewConnectionsTo(0);
      assert.equal(endpoint(s, 1).weight, 8);
    });

    it('a restart keeps them (the state file next to the config)', async () => {
      const file = join(dir, 'hitless.yaml.overrides.json');
      assert.ok(existsSync(file), `${file} exists`);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { version: number; overrides: Array<{ address: string; state: string | null; weight: number | null }> };
      assert.equal(saved.version, 1);
      assert.deepEqual(
        saved.overrides.map((o) => [o.address, o.state, o.weight]).sort(),
        [[addr(0), 'drain', null], [addr(1), null, 8]].sort(),
      );
      for (const c of held) c.close();
      held.length = 0;
      held0 = null;
      const child = h!.child;
      process.kill(child.pid!, 'SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      await h!.kill();
      await start();
      const s = await settled();
      assert.equal(s.overrides.stateFile, file);
      assert.equal(endpoint(s, 0).override?.state, 'drain');
      assert.equal(endpoint(s, 1).override?.weight, 8);
      assert.equal(endpoint(s, 1).weight, 8);
      await noNewConnectionsTo(0);
    });

    it('clear restores the configured behaviour', async () => {
      const cleared = await ok(clear(0));
      assert.equal(cleared.override, null);
      await ok(clear(1));
      const again = await clear(1);
      assert.equal(again.status, 200);
      assert.equal(again.json<{ cleared: boolean }>().cleared, false);
      const s = await status();
      assert.deepEqual(s.overrides.overrides, []);
      assert.deepEqual([0, 1, 2].map((i) => [endpoint(s, i).weight, endpoint(s, i).override ?? null]), [[1, null], [1, null], [1, null]]);
      await eachWorker(async (who) => {
        const counts = countTags(await tagsOf(port, 12));
        assert.ok(['b0', 'b1', 'b2'].every((t) => (counts[t] ?? 0) >= 2), `${who}: 12 connections went ${JSON.stringify(counts)}`);
      });
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'hitless.yaml.overrides.json'), 'utf8')), { version: 1, overrides: [] });
    });

    it('the CLI: hitless endpoint drain|weight|list|clear and the OVERRIDE column of hitless status', async () => {
      const cli = (...args: string[]) => runCli([...args, '--admin', admin]);
      const drain = await cli('endpoint', 'drain', 'echo', addr(0));
      assert.equal(drain.code, 0, drain.stderr);
      assert.match(drain.stdout, new RegExp(`^echo ${addr(0)}: drain, configured weight \\(since .*, by .*@.* \\(unix\\)\\)`));
      const weight = await cli('endpoint', 'weight', 'echo', addr(1), '3');
      assert.equal(weight.code, 0, weight.stderr);
      const waiting = await cli('endpoint', 'maint', 'echo', '127.0.0.1:9');
      assert.equal(waiting.code, 0, waiting.stderr);
      assert.match(waiting.stderr, /^warning: 127\.0\.0\.1:9 is not an endpoint of service echo now/);
      const shown = await cli('status');
      assert.equal(shown.code, 0, shown.stderr);
      const line = (a: string) => shown.stdout.split('\n').find((l) => l.includes(a)) ?? '';
      assert.match(line(addr(0)), /\bdrain\b/);
      assert.match(line(addr(1)), /\bw=3\b/);
      assert.match(shown.stdout, /OVERRIDES WAITING FOR THEIR ENDPOINT[\s\S]*127\.0\.0\.1:9\s+maint/);
      const list = await cli('endpoint', 'list', '--json');
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(
        JSON.parse(list.stdout).overrides.map((o: { address: string; state: string | null; weight: number | null; present: boolean }) => [o.address, o.state, o.weight, o.present]).sort(),
        [[addr(0), 'drain', null, true], [addr(1), null, 3, true], ['127.0.0.1:9', 'maint', null, false]].sort(),
      );
      const bad = await cli('endpoint', 'weight', 'echo', addr(1), 'heavy');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /weight: expected a whole number 0-1000, found "heavy" \[HITLESS_ERR_INVALID_REQUEST\]/);
      const unknown = await cli('endpoint', 'drain', 'nosuch', addr(0));
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no service "nosuch" in the running config; services: echo \[HITLESS_ERR_NOT_FOUND\]/);
      for (const a of [addr(0), addr(1), '127.0.0.1:9']) assert.equal((await cli('endpoint', 'clear', 'echo', a)).code, 0);
      assert.deepEqual((await status()).overrides.overrides, []);
    });

    it('refuses bad requests with the field named, and generated requests change nothing else', async () => {
      await ok(set(0, { state: 'drain' }));
      const expectError = async (reply: Promise<AdminReply>, status: number, field?: string) => {
        const r = await reply;
        assert.equal(r.status, status, r.text);
        const body = r.json<{ error: { code: string; message: string; details?: { field?: string } } }>();
        assert.match(body.error.code, /^HITLESS_ERR_/);
        if (field) assert.equal(body.error.details?.field, field, r.text);
      };
      await expectError(h!.request('POST', `/overrides/nosuch/${addr(0)}`, '{"state":"drain"}'), 404, 'service');
      await expectError(set('127.0.0.1', { state: 'drain' }), 400, 'address');
      await expectError(set('127.0.0.1:70000', { state: 'drain' }), 400, 'address');
      await expectError(set(0, { weight: 1001 }), 400, 'weight');
      await expectError(set(0, { weight: -1 }), 400, 'weight');
      await expectError(set(0, { weight: 2.5 }), 400, 'weight');
      await expectError(set(0, { state: 'up' }), 400, 'state');
      await expectError(set(0, { colour: 'red' }), 400, 'colour');
      await expectError(set(0, {}), 400, 'state');
      await expectError(h!.request('POST', `/overrides/echo/${addr(0)}`, 'not json'), 400, 'body');
      await expectError(h!.request('PUT', `/overrides/echo/${addr(0)}`, '{}'), 405);
      // An address not in the service: accepted, with a warning, and listed as waiting.
      const waiting = await ok(set('127.0.0.1:9', { state: 'maint' }));
      assert.equal(waiting.present, false);
      assert.match(waiting.warnings.join(' '), /not an endpoint of service echo now/);
      await ok(h!.request('DELETE', '/overrides/echo/127.0.0.1:9'));

      const snapshot = async () => {
        const s = await status();
        return [0, 1, 2].map((i) => ({ weight: endpoint(s, i).weight, state: endpoint(s, i).override?.state ?? null, w: endpoint(s, i).override?.weight ?? null }));
      };
      const before = await snapshot();
      const seed = Number(process.env.HITLESS_FUZZ_SEED ?? Date.now() % 1_000_000);
      const random = mulberry32(seed);
      const real = new Set([0, 1, 2].map(addr));
      const created = new Set<string>();
      const statuses: Record<number, number> = {};
      for (let n = 0; n < 300; n++) {
        const g = generated(random, real);
        const r = await h!.request(g.method, g.path, g.body);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        assert.ok([200, 400, 404, 405, 413].includes(r.status), `seed ${seed}: ${g.method} ${g.path} ${g.body ?? ''} answered ${r.status} ${r.text}`);
        if (r.status !== 200) {
          assert.match(r.json<{ error: { code: string } }>().error.code, /^HITLESS_ERR_/, r.text);
        } else if (g.method === 'POST') {
          const a = r.json<{ address: string; override: Override | null }>();
          assert.ok(!real.has(a.address), `seed ${seed}: a generated request changed ${a.address}`);
          created.add(a.address);
        }
      }
      console.log(`${workers} workers: 300 generated requests (seed ${seed}) answered ${JSON.stringify(statuses)}`);
      assert.ok(alive(h!.child.pid!), 'hitless is alive');
      assert.deepEqual(await snapshot(), before, `seed ${seed}: the real endpoints kept their weights and overrides (${JSON.stringify(statuses)})`);
      for (const address of created) await ok(h!.request('DELETE', `/overrides/echo/${encodeURIComponent(address)}`));
      await ok(clear(0));
      assert.deepEqual((await status()).overrides.overrides, []);
      assert.ok(statuses[200] > 0 && statuses[400] > 0, `both accepted and refused requests were generated: ${JSON.stringify(statuses)}`);
    });
  });
}

/** A request to the override routes from a seeded generator: plausible and hostile parts mixed. */
function generated(random: () => number, real: ReadonlySet<string>): { method: string; path: string; body?: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const junk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(random() * 0x2500))).join('');
  const services = ['echo', 'echo', 'echo', 'nosuch', 'ech', 'ECHO', '..', '%2e%2e', '%zz', '', 'a'.repeat(300), encodeURIComponent(junk(5)), 'echo%2Fx'];
  let address: string;
  do {
    address = pick([
      `127.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}:${1 + Math.floor(random() * 65535)}`,
      `10.0.0.${Math.floor(random() * 300)}:${Math.floor(random() * 70000)}`,
      `[::1]:${1 + Math.floor(random() * 65535)}`,
      '%5B::1%5D:80',
      'localhost:80',
      'host.example:8080',
      '127.0.0.1',
      ':80',
      '[zz]:80',
      encodeURIComponent(junk(8)),
      '%',
      'a'.repeat(400) + ':1',
      '127.0.0.1:80/extra',
    ]);
  } while (real.has(address));
  const values = ['drain', 'maint', 'ready', 'up', '', null, 0, 5, 1000, 1001, -1, 2.5, '7', '1e3', Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 2, [], {}, true, junk(4)];
  const bodies = [
    () => JSON.stringify({ state: pick(values) }),
    () => JSON.stringify({ weight: pick(values) }),
    () => JSON.stringify({ state: pick(values), weight: pick(values) }),
    () => JSON.stringify({ [junk(3)]: 1 }),
    () => JSON.stringify(pick(values)),
    () => junk(20),
    () => '{"weight": 1e999}',
    () => '{"state": "drain", "state": "maint"}',
    () => '',
  ];
  // Half plausible (a real service, an address that parses, a body that may be valid), half anything.
  if (random() < 0.5) {
    const valid = pick([`127.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}:${1 + Math.floor(random() * 65535)}`, `[::1]:${1 + Math.floor(random() * 65535)}`, 'host.example:8080']);
    if (real.has(valid)) return { method: 'GET', path: '/overrides' };
    const method = pick(['POST', 'POST', 'DELETE']);
    const body = JSON.stringify(pick([{ state: pick(['drain', 'maint', 'ready', 'up']) }, { weight: pick([0, 5, 1000, 1001, null]) }, { state: 'drain', weight: 3 }]));
    return { method, path: `/overrides/echo/${encodeURIComponent(valid)}`, ...(method === 'POST' ? { body } : {}) };
  }
  const method = pick(['POST', 'POST', 'POST', 'DELETE', 'GET', 'PUT', 'PATCH']);
  const path = pick([`/overrides/${pick(services)}/${address}`, `/overrides/${pick(services)}/${address}`, `/overrides/${pick(services)}`, `/overrides/${pick(services)}/${address}/x`, '/overrides/']);
  return { method, path, ...(method === 'POST' || method === 'PUT' ? { body: pick(bodies)() } : {}) };
}

/** A small seeded PRNG, so a failing run can be repeated (HITLESS_FUZZ_SEED). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
