// npm run bench:handover — how long a code upgrade takes to move 10,000 established tcp-mode
// connections to the new generation (src/process/tunnel-move.ts), and the pause each connection
// sees (from the old worker freezing it to the new worker reading it again), in one run.
// Goals (issue 18): p99 pause < 50 ms, all 10,000 moved in < 2 s.
//
// hitless run --workers 2 (dist/) with one tcp service; an echo endpoint and the clients each run
// in their own process (10,000 sockets each). Every connection is proven by an echoed number
// before the upgrade and again after it; the figures are hitless's own (GET /status:
// process.upgrades.movedConnections, movePauseMs, and last.previous.goneAfterMs: the time from
// the upgrade's answer, when the old generation is told to drain, to its last process's exit,
// which waits until every tunnel it sent has been joined: the moving time, and a little more).
//
//   HANDOVER_CONNS=10000 (default: 10,000, or what RLIMIT_NOFILE leaves room for)
//   HANDOVER_PORTS=21000-21999 (where the bench's listeners go)
//   HANDOVER_UPGRADES=1 (upgrades in a row, a second apart)
//   HANDOVER_PROFILE=<dir> (every hitless process writes a --cpu-prof profile there as it exits)
//   HANDOVER_NODE_ARGS='--flag ...' (Node/V8 flags for every hitless process, e.g. to try a V8 tier-up setting)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './lib/free-port.js';
import { IpcChild } from './lib/ipc-child.js';
import { fdHardLimit, orphanProof, ROOT, stopProcess, waitListening } from './lib/targets.js';

type ToPeer = { t: 'check' } | { t: 'close' };
type FromPeer = { t: 'listening' } | { t: 'opened'; failed: number } | { t: 'checked'; failed: number; closed: number };

const FD_HEADROOM = 500;
// Each process holds at most one descriptor per connection (the clients, the echo endpoint) or two
// per connection it serves (a worker of two serves about half of them).
const N = Number(process.env.HANDOVER_CONNS ?? Math.min(10_000, fdHardLimit() - FD_HEADROOM));
const [LOW, HIGH] = (process.env.HANDOVER_PORTS ?? '21000-21999').split('-').map(Number);
const PEER = join(ROOT, 'bench/lib/tunnel-peers.ts');
/** Upgrades in a row, a second apart, each measured on its own (the pauses are those of the last upgrade). */
const UPGRADES = Number(process.env.HANDOVER_UPGRADES ?? 1);

interface UpgradeStatus {
  process: {
    upgrades: {
      last: { previous?: { goneAfterMs?: number } } | null; movedConnections: number; drainedConnections: number; lostConnections: number; movePauseMs: { count: number; p50: number | null; p99: number | null; max: number | null } };
  };
}

function admin(socketPath: string, method: string, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: 60_000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-bench-handover-'));
  const echoPort = await freePort(LOW, HIGH);
  const echo = new IpcChild<ToPeer, FromPeer>('echo', PEER, ['echo', String(echoPort)]);
  await echo.next('listening', 10_000);
  const port = await freePort(echoPort + 1, HIGH);
  const socketPath = join(dir, 'admin.sock');
  const file = join(dir, 'hitless.yaml');
  writeFileSync(file, `admin: { listen: "unix:${socketPath}" }
services:
  echo:
    mode: tcp
    listen: 127.0.0.1:${port}
    endpoints: [127.0.0.1:${echoPort}]
    timeouts: { idle: 10m }
`);
  const nodeArgs = [
    ...(process.env.HANDOVER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HANDOVER_PROFILE}`] : []),
    ...(process.env.HANDOVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  // Workers are forked with the supervisor's execArgv, so each of them profiles (and flags) too.
  const hitless = spawn(...orphanProof(process.execPath, [...nodeArgs, join(ROOT, 'dist/cli/main.js'), 'run', '--config', file, '--workers', '2', '--log-level', process.env.HANDOVER_LOG ?? 'warn']), { stdio: ['ignore', 'inherit', 'inherit'] });
  let clients: IpcChild<ToPeer, FromPeer> | null = null;
  try {
    await waitListening(port, 'hitless');
    clients = new IpcChild<ToPeer, FromPeer>('clients', PEER, ['clients', String(port), String(N)]);
    const opening = Date.now();
    const opened = await clients.next('opened', 300_000);
    console.log(`${N} connections open and proven in ${((Date.now() - opening) / 1000).toFixed(1)} s (${opened.failed} failed); RLIMIT_NOFILE ${fdHardLimit()}; ${cpus().length} CPUs`);
    for (let round = 1; round <= UPGRADES; round++) {
      await sleep(1_000);
      const began = Date.now();
      const res = await admin(socketPath, 'POST', '/upgrade');
      if (res.status !== 200) throw new Error(`upgrade: HTTP ${res.status} ${res.text}`);
      const answered = Date.now();
      // Polled gently: a status request makes every worker report, and 50 of them a second (as
      // this loop did) took CPU from the move it measures. The time is the supervisor's own: from
      // the upgrade's answer to the previous generation's last exit, which comes only once every
      // tunnel it sent has been joined (an upper bound on the moving time).
      let s: UpgradeStatus;
      for (;;) {
        await sleep(250);
        s = JSON.parse((await admin(socketPath, 'GET', '/status')).text) as UpgradeStatus;
        const u = s.process.upgrades;
        if (u.last?.previous?.goneAfterMs !== undefined && u.movePauseMs.count >= u.movedConnections - N * (round - 1)) break;
        if (Date.now() - answered > 120_000) throw new Error(`after 120 s: ${JSON.stringify(u)}`);
      }
      clients.send({ t: 'check' });
      const checked = await clients.next('checked', 300_000);
      const u = s.process.upgrades;
      const moved = u.movedConnections - N * (round - 1);
      const gone = u.last!.previous!.goneAfterMs!;
      console.log(`upgrade ${round}: new generation ready and serving in ${answered - began} ms`);
      console.log(`moved ${moved} of ${N} (drained ${u.drainedConnections}, lost ${u.lostConnections}, all upgrades); the previous generation exited ${gone} ms after the upgrade's answer (processes back to 1 + 2)`);
      console.log(`pause per connection (freeze in the old worker -> reading in the new): p50 ${u.movePauseMs.p50} ms, p99 ${u.movePauseMs.p99} ms, max ${u.movePauseMs.max} ms (${u.movePauseMs.count} connections)`);
      console.log(`after the upgrade: ${checked.closed} connections closed, ${checked.failed} failed to echo`);
      console.log(`goals: p99 pause < 50 ms: ${(u.movePauseMs.p99 ?? Infinity) < 50 ? 'met' : 'NOT met'}; all moved in < 2 s: ${gone < 2_000 && moved === N ? 'met' : 'NOT met'}`);
    }
  } finally {
    clients?.send({ t: 'close' });
    echo.send({ t: 'close' });
    await stopProcess(hitless);
    // Gone before the next run starts, so that nothing of this one holds or reaches its ports.
    await Promise.all([clients?.stop(), echo.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
