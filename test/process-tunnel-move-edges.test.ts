// Edges of moving tunnels at a code upgrade (src/process/tunnel-move.ts), over a real
// `hitless run --workers 2` from dist/: the one access-log line of a connection that moved.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { SupervisedHitless, alive } from './helpers/process-harness.js';
import { startBackends, type Backends } from './helpers/process-backends.js';
import { NumberedStreams, startWsEcho } from './helpers/numbered-streams.js';
import { reservePort } from './helpers/ports.js';
import { waitFor, within, sleep } from './helpers/wait.js';
import { runCli } from './helpers/cli.js';

interface UpgradeCounts {
  process: { processes: number; upgrades: { ok: number; movedConnections: number; drainedConnections: number; lostConnections: number } };
}

interface AccessLine {
  time: string;
  client: string;
  service: string;
  mode: string;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
}

/** One client connection of the test: what it sent and received, as its own socket counted it. */
interface Client {
  socket: Socket;
  name: string;
  /** The client's `ip:port` as hitless sees it (read at connect: gone after close). */
  local: string;
  /** Unix ms of the first echo: hitless had accepted it in user space by then. */
  firstEcho: number;
  /** Unix ms just before connect() and at 'close': hitless's life of it lies within. */
  before: number;
  closedAt: number;
  received: number;
  /** What is still to come back (an echo): the test waits on it before each step. */
  expected: number;
  waiters: Array<() => void>;
}

function tcpClient(port: number, name: string): Client {
  const c: Client = { socket: connect({ host: '127.0.0.1', port, noDelay: true }), name, local: '', firstEcho: 0, before: Date.now(), closedAt: 0, received: 0, expected: 0, waiters: [] };
  c.socket.on('data', (d: Buffer) => {
    if (c.firstEcho === 0) c.firstEcho = Date.now();
    c.received += d.length;
    if (c.received >= c.expected) for (const w of c.waiters.splice(0)) w();
  });
  c.socket.once('connect', () => (c.local = `${c.socket.localAddress}:${c.socket.localPort}`));
  c.socket.on('error', () => {});
  c.socket.once('close', () => (c.closedAt = Date.now()));
  return c;
}

/** Sends `bytes` and resolves when `echoed` more bytes have come back. */
function exchange(c: Client, bytes: Buffer, echoed: number): Promise<void> {
  c.expected += echoed;
  const done = new Promise<void>((resolve) => (c.received >= c.expected ? resolve() : c.waiters.push(resolve)));
  c.socket.write(bytes);
  return within(10_000, `${c.name} to get its echo`, done);
}

/** A WebSocket text frame from a client (masked, with a zero mask: the payload as is). */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** Sockets of this machine in SYN_SENT to 127.0.0.1:`port` (/proc/net/tcp: hitless's connects still waiting). */
function connectingTo(port: number): number {
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[2] === wanted && f[3] === '02';
  }).length;
}

/**
 * An echo endpoint in its own process, with a backlog of 1: stopped (SIGSTOP), it accepts nothing,
 * its queue fills and the kernel drops further SYNs, so connects to it stay connecting (retrying
 * the SYN) until it runs again (SIGCONT).
 */
async function stoppableEcho(): Promise<{ port: number; child: ChildProcess }> {
  const script = "const s=require('net').createServer((c)=>{c.on('error',()=>{});c.pipe(c)});s.listen({host:'127.0.0.1',port:0,backlog:1},()=>console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { port: Number(line.toString().trim()), child };
}

/** A tcp service `echo` on 127.0.0.1:`port`, to the echo endpoint: what most tests here run. */
const echoService = (port: number, echoPort: number): string => `  echo:
    mode: tcp
    listen: 127.0.0.1:${port}
    endpoints: [127.0.0.1:${echoPort}]
    timeouts: { idle: 10m }
`;

describe('process model: edges of moving tunnels', () => {
  let backends: Backends;
  let web: Awaited<ReturnType<typeof startWsEcho>>;
  const started: SupervisedHitless[] = [];
  const dirs: string[] = [];
  before(async () => {
    backends = await startBackends();
    web = await startWsEcho();
  });
  after(async () => {
    for (const h of started) await h.kill();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await backends.stop();
    await web.stop();
  });

  it('a connection moved across 3 upgrades writes exactly one access line, at its end, with all its bytes and its whole life', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-move-log-'));
    dirs.push(dir);
    const log = join(dir, 'access.log');
    const tcp = await reservePort();
    const ws = await reservePort();
    const h = await SupervisedHitless.start({
      workers: 2,
      config: (admin) => `admin: { listen: "${admin}" }
services:
  echo:
    mode: tcp
    listen: 127.0.0.1:${tcp}
    endpoints: [127.0.0.1:${backends.echoPort}]
    timeouts: { idle: 10m }
    access_log: { path: ${JSON.stringify(log)}, format: json }
  web:
    mode: http
    listen: 127.0.0.1:${ws}
    endpoints: [127.0.0.1:${web.port}]
    timeouts: { idle: 10m }
    access_log: { path: ${JSON.stringify(log)}, format: json }
`,
    });
    started.push(h);
    const clients: Client[] = [];
    for (let i = 0; i < 20; i++) clients.push(tcpClient(tcp, `tcp ${i}`));
    await Promise.all(clients.map((c) => once(c.socket, 'connect')));
    await Promise.all(clients.map((c, i) => exchange(c, Buffer.alloc(100 + i, 'a'), 100 + i)));
    // A WebSocket by hand, so that every byte on its wire is counted by its own socket.
    const w = tcpClient(ws, 'websocket');
    await once(w.socket, 'connect');
    const handshake = `GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const upgraded = new Promise<void>((resolve) => w.socket.on('data', () => resolve()));
    w.socket.write(handshake);
    await within(10_000, 'the 101', upgraded);
    // The 101's length is what arrived; an echoed frame is as long as the text plus 2 (unmasked).
    w.expected = w.received;
    await exchange(w, wsFrame('hello 0'), 9);
    for (let u = 1; u <= 3; u++) {
      const res = await h.upgrade();
      assert.equal(res.status, 200, res.text);
      await waitFor(`the old generation gone after upgrade ${u}`, async () => (await h.request('GET', '/status')).json<UpgradeCounts>().process.processes === 3, { timeoutMs: 15_000, intervalMs: 20 });
      await Promise.all(clients.map((c) => exchange(c, Buffer.alloc(50 * u, 'b'), 50 * u)));
      await exchange(w, wsFrame(`hello ${u}`), 9);
    }
    const u = (await h.request('GET', '/status')).json<UpgradeCounts>().process.upgrades;
    assert.equal(u.movedConnections, 21 * 3, JSON.stringify(u));
    const endedAt = new Map<Client, number>();
    for (const c of [...clients, w]) {
      endedAt.set(c, Date.now());
      c.socket.end();
    }
    await Promise.all([...clients, w].map((c) => (c.closedAt !== 0 ? Promise.resolve() : within(10_000, `${c.name} to close`, once(c.socket, 'close')))));
    const lines = (): AccessLine[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AccessLine) : []);
    // Lines are flushed within a second of their write.
    await waitFor('a line per connection', () => lines().length >= 21, { timeoutMs: 10_000, intervalMs: 50 });
    // Bounded: one more flush interval, for a second line of any connection to show.
    await sleep(1_200);
    const all = lines();
    for (const c of [...clients, w]) {
      const client = c.local;
      const mine = all.filter((l) => l.client === client);
      assert.equal(mine.length, 1, `${c.name} (${client}): ${JSON.stringify(mine)}`);
      const [line] = mine;
      assert.equal(line.bytes_in, c.socket.bytesWritten, `${c.name}: bytes_in ${JSON.stringify(line)}`);
      assert.equal(line.bytes_out, c.socket.bytesRead, `${c.name}: bytes_out ${JSON.stringify(line)}`);
      // Its life in hitless: accepted after the client began to connect and before its first
      // echo; ended (the line written, `time`) after the client ended it. Not bounded by when the
      // client saw its close: under load hitless's own close comes tens of ms later (+5 ms failed).
      const loggedAt = Date.parse(line.time);
      assert.ok(loggedAt >= endedAt.get(c)! - 1, `${c.name}: line written at ${line.time}, before the client ended it at ${new Date(endedAt.get(c)!).toISOString()}`);
      const least = endedAt.get(c)! - c.firstEcho;
      const most = loggedAt + 1 - c.before;
      assert.ok(line.duration_ms >= least && line.duration_ms <= most, `${c.name}: duration ${line.duration_ms} ms, its life ${least}..${most} ms`);
    }
    assert.equal(all.length, 21, `one line per connection, no other: ${all.length}`);
  });

  it('a drain cut short by a newer upgrade closes nothing: connections still connecting to their endpoint finish connecting and move', async () => {
    const slow = await stoppableEcho();
    const port = await reservePort();
    const h = await SupervisedHitless.start({
      workers: 2,
      args: ['--upgrade-drain', '30s'],
      config: (admin) => `admin: { listen: "${admin}" }
services:
  slow:
    mode: tcp
    listen: 127.0.0.1:${port}
    endpoints: [127.0.0.1:${slow.port}]
    timeouts: { idle: 10m, connect: 30s }
`,
    });
    started.push(h);
    try {
      process.kill(slow.child.pid!, 'SIGSTOP');
      const clients: Client[] = [];
      for (let i = 0; i < 8; i++) clients.push(tcpClient(port, `tcp ${i}`));
      await Promise.all(clients.map((c) => once(c.socket, 'connect')));
      for (const c of clients) c.socket.write('x');
      // hitless holds them, most still connecting to the stopped endpoint (its queue takes 2).
      await waitFor('hitless connecting to the stopped endpoint', () => connectingTo(slow.port) >= 4, { timeoutMs: 10_000, intervalMs: 20 });
      const connecting = connectingTo(slow.port);
      // Two upgrades back to back: the second cuts the first one's drain short.
      for (let u = 1; u <= 2; u++) {
        const res = await h.upgrade();
        assert.equal(res.status, 200, res.text);
      }
      const closedByUpgrades = clients.filter((c) => c.closedAt !== 0).length;
      console.log(`cut-short drain: ${connecting} connecting at the upgrades, ${closedByUpgrades} closed by them`);
      process.kill(slow.child.pid!, 'SIGCONT');
      // Every connection connects (the SYN retried) and echoes, on whichever generation holds it now.
      const settled = (c: Client): boolean => c.closedAt !== 0 || c.received >= 1;
      await waitFor('every connection to echo or close', () => clients.every(settled), { timeoutMs: 25_000, intervalMs: 20 });
      console.log(`after SIGCONT: ${clients.filter((c) => c.closedAt !== 0).length} closed`);
      assert.equal(clients.filter((c) => c.closedAt !== 0).length, 0);
      await Promise.all(clients.map((c) => exchange(c, Buffer.from('y'), 1 + 1)));
      await waitFor('the old generations gone', async () => (await h.request('GET', '/status')).json<UpgradeCounts>().process.processes === 3, { timeoutMs: 15_000, intervalMs: 20 });
      await Promise.all(clients.map((c) => exchange(c, Buffer.from('z'), 1)));
      const u = (await h.request('GET', '/status')).json<UpgradeCounts>().process.upgrades;
      console.log(`cut-short drain: moved ${u.movedConnections}, drained ${u.drainedConnections}, lost ${u.lostConnections}`);
      assert.equal(closedByUpgrades, 0);
      assert.equal(clients.filter((c) => c.closedAt !== 0).length, 0);
      assert.equal(u.lostConnections, 0);
      for (const c of clients) c.socket.destroy();
    } finally {
      process.kill(slow.child.pid!, 'SIGCONT');
      slow.child.kill('SIGKILL');
    }
  });

  async function throughSupervisorReexec(codeUpgradeFirst: boolean): Promise<void> {
    const tcp = await reservePort();
    const ws = await reservePort();
    const h = await SupervisedHitless.start({
      workers: 2,
      args: ['--upgrade-drain', '20s'],
      config: (admin) => `admin: { listen: "${admin}" }
services:
${echoService(tcp, backends.echoPort)}  web:
    mode: http
    listen: 127.0.0.1:${ws}
    endpoints: [127.0.0.1:${web.port}]
    timeouts: { idle: 10m }
`,
    });
    started.push(h);
    const streams = new NumberedStreams();
    await streams.open(tcp, 50, ws, 10);
    streams.start(50);
    try {
      await waitFor('every connection to echo through hitless', () => streams.allEchoing(), { timeoutMs: 20_000 });
      const oldSupervisor = await h.supervisorPid();
      if (codeUpgradeFirst) {
        // A code upgrade first, its generation still moving its tunnels when the supervisor goes.
        const code = await h.upgrade();
        assert.equal(code.status, 200, code.text);
      }
      const res = await h.upgrade('?supervisor=1');
      assert.equal(res.status, 200, res.text);
      const newSupervisor = res.json<{ supervisorPid: number }>().supervisorPid;
      await waitFor('the new supervisor to answer the admin API', async () => (await h.status()).process.supervisorPid === newSupervisor, { timeoutMs: 20_000 });
      // The old workers exit once their tunnels moved: long before the 20 s drain.
      await waitFor('the old supervisor and its workers gone', () => !alive(oldSupervisor), { timeoutMs: 15_000, intervalMs: 20 });
      const before = streams.report().bytesEchoed;
      await waitFor('bytes still echoing after the old supervisor left', () => streams.report().bytesEchoed > before, { timeoutMs: 10_000, intervalMs: 20 });
      streams.stopWriting();
      await waitFor('every byte sent to come back', () => streams.caughtUp(), { timeoutMs: 10_000 });
    } finally {
      streams.stopWriting();
    }
    const report = streams.report();
    streams.close();
    const u = (await h.request('GET', '/status')).json<UpgradeCounts>().process.upgrades;
    console.log(`supervisor re-exec: ${report.opened} connections, ${report.closedEarly} closed, ${report.corrupted} corrupted; new supervisor's counts: moved ${u.movedConnections}, drained ${u.drainedConnections}, lost ${u.lostConnections}`);
    if (report.closedEarly > 0) for (const l of h.logs().split('\n')) if (/drained|lost|warn|"level":[45]0/.test(l)) console.log(l.slice(0, 300));
    assert.equal(report.closedEarly, 0, JSON.stringify(report));
    assert.equal(report.corrupted, 0, JSON.stringify(report));
    assert.equal(report.bytesEchoed, report.bytesSent);
  }

  it('long-lived tcp and WebSocket connections move through a supervisor re-exec: none closed, no byte lost', () => throughSupervisorReexec(false));

  // A new version that hangs in the middle of a move (the fault hook stops the first new worker
  // to take a moved tunnel, with SIGSTOP). What was already on its way to it waits for it: the
  // move channel's window, and what the supervisor passed it before it saw that the worker took
  // no more handles. Everything else moves to the other new worker, and the old generation goes.
  // With plain round robin the supervisor went on sending it every other tunnel: 139 of 400
  // connections waited for it.
  it('a new worker stopped (SIGSTOP) in the middle of a move holds only what was on its way to it: the rest move to the other, and all carry on when it resumes', () => stoppedMidMove('SIGCONT'));

  // The same worker killed instead of resumed: what it held closes (the kernel closes what was in
  // its channel; the supervisor closes the handles it still had queued for it), each counted
  // lost, and nothing is left open and dead. child_process drops a dead child's queued handles
  // without calling back: before WorkerLink failed those sends, 8 connections stayed open, with
  // nobody reading them, for as long as the supervisor ran; and the 32 in the channel closed
  // uncounted until the old worker said at its exit how many it had left there.
  it('the same worker killed instead: what it held closes, every other connection carries on, none is left open and dead', () => stoppedMidMove('SIGKILL'));

  async function stoppedMidMove(then: 'SIGCONT' | 'SIGKILL'): Promise<void> {
    const tcp = await reservePort();
    const dir = mkdtempSync(join(tmpdir(), 'hitless-stop-'));
    dirs.push(dir);
    const faultFile = join(dir, 'fault');
    const h = await SupervisedHitless.start({
      workers: 2,
      args: ['--upgrade-drain', '60s'],
      env: { HITLESS_TEST_WORKER_FAULT_FILE: faultFile },
      config: (admin) => `admin: { listen: "${admin}" }
services:
${echoService(tcp, backends.echoPort)}`,
    });
    started.push(h);
    const N = 400;
    const streams = new NumberedStreams();
    await streams.open(tcp, N, 0, 0);
    streams.start(100);
    let stopped = -1;
    try {
      await waitFor('every connection to echo through hitless', () => streams.allEchoing(), { timeoutMs: 20_000 });
      writeFileSync(faultFile, 'stop-on-tunnel');
      const res = await h.upgrade();
      assert.equal(res.status, 200, res.text);
      // The old generation is gone although one of the new workers hangs.
      await waitFor('the old generation gone', async () => (await h.request('GET', '/status')).json<UpgradeCounts>().process.processes === 3, { timeoutMs: 20_000, intervalMs: 50 });
      // Status tells the operator which worker does not answer.
      let workers: Array<{ pid: number; generation: number; responding: boolean; lastHeardAt: string }> = [];
      await waitFor('status to name the stopped worker', async () => {
        workers = (await h.request('GET', '/status')).json<{ process: { workers: typeof workers } }>().process.workers;
        return workers.some((w) => !w.responding);
      }, { timeoutMs: 15_000, intervalMs: 100 });
      const silent = workers.filter((w) => !w.responding);
      assert.equal(silent.length, 1, JSON.stringify(workers));
      stopped = silent[0]!.pid;
      assert.ok(Date.parse(silent[0]!.lastHeardAt) < Date.now() - 1_000, JSON.stringify(silent[0]));
      const cli = await runCli(['status', '--admin', `unix:${h.socketPath}`]);
      assert.match(cli.stdout, new RegExp(`WARNING: worker pid ${stopped} \\(generation 2\\) is not answering`), cli.stdout + cli.stderr);
      streams.stopWriting();
      // The move channel's window (DIRECT_IN_FLIGHT), and the old worker's window through the
      // supervisor (IN_FLIGHT): a tunnel stuck on its way frees its place only after 2 s, and by
      // then the supervisor no longer sends it any (tunnel-move.ts, connection-handover.ts).
      const mostWaiting = 32 + 16;
      await waitFor(`all but what was on its way to the stopped worker to echo (${streams.behind()} behind)`, () => streams.behind() <= mostWaiting, { timeoutMs: 10_000, intervalMs: 50 });
      const behind = streams.behind();
      process.kill(stopped, then);
      stopped = -1;
      await waitFor(`every byte sent to come back, or its connection closed, after ${then}`, () => streams.caughtUp(), { timeoutMs: 10_000 });
      const report = streams.report();
      const u = (await h.request('GET', '/status')).json<UpgradeCounts>().process.upgrades;
      console.log(`a new worker stopped mid-move, then ${then}: ${behind} of ${N} connections waited for it; ${report.closedEarly} closed, ${report.corrupted} corrupted; moved ${u.movedConnections}, drained ${u.drainedConnections}, lost ${u.lostConnections}`);
      assert.equal(report.corrupted, 0, JSON.stringify(report));
      if (then === 'SIGCONT') {
        assert.equal(report.closedEarly, 0, JSON.stringify(report));
        assert.equal(report.bytesEchoed, report.bytesSent);
        assert.equal(u.lostConnections, 0);
        await waitFor('every tunnel counted as moved once the stopped worker joined its own', async () => (await h.request('GET', '/status')).json<UpgradeCounts>().process.upgrades.movedConnections === N, { timeoutMs: 10_000 });
      } else {
        // Only what waited for it closed; each connection moved and alive, or closed: never both.
        assert.ok(report.closedEarly >= 1 && report.closedEarly <= behind, JSON.stringify(report));
        assert.equal(u.movedConnections, N - report.closedEarly, JSON.stringify(u));
        // And each one closed is counted lost: those the supervisor still held for it, and those
        // in its channel's queue, which the old worker said at its exit it had left with it.
        assert.equal(u.lostConnections, report.closedEarly, JSON.stringify({ report, u }));
      }
    } finally {
      if (stopped > 0) process.kill(stopped, 'SIGCONT');
      streams.close();
    }
  }

  // Both failed now and then (7 and 16 of 60 closed) until a replaced supervisor waited, before it
  // exits, for the tunnels it was still passing on to the new one (connection-handover.ts settled()).
  it('the same right after a code upgrade (its tunnels still moving): none closed, no byte lost', () => throughSupervisorReexec(true));
});
