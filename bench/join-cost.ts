// npm run bench:join-cost — the CPU a worker spends to take one moved tunnel (src/process/
// move-channel.ts's receiving side and tunnel-join.ts), measured alone in a fresh process: the
// part of bench:handover's moving time that the receiving workers pay, without the noise of four
// processes sharing the CPUs. CPU time, not wall time: steady from run to run where
// bench:handover's times are not, so it says whether a change to the join helps.
//
// This process opens 2 × N connected loopback TCP pairs and sends them as N tunnels over a
// socketpair with the real sending side (SuccessorChannel: batches of 32 over a lane, as a
// draining worker sends them; or, JOIN_MODE=lines, two descriptor-carrying lines per tunnel, the
// way without koffi), at most 32 tunnels ahead of the receiver's acknowledgements. A fresh child
// (dist/) reads them with the real receiving side (PredecessorChannel), joins each with
// joinTunnel, and reports its CPU per tunnel (process.cpuUsage: user and system), from its first
// join to its last.
//
//   JOIN_TUNNELS=3000 (each needs 4 descriptors here: keep 4 × N under RLIMIT_NOFILE)
//   JOIN_MODE=lane (default) | lines
import { fork } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT } from './lib/targets.js';

const N = Number(process.env.JOIN_TUNNELS ?? 3000);
const MODE = process.env.JOIN_MODE === 'lines' ? 'lines' : 'lane';
const DIST = join(ROOT, 'dist');
const WINDOW = 32;
const CHANNEL_FD = 4;

type Channel = typeof import('../src/process/move-channel.js');
type Internals = typeof import('../src/util/node-internals.js');
type Join = typeof import('../src/dataplane/builtin/tunnel-join.js');
type TunnelRecord = import('../src/dataplane/builtin/tunnel.js').TunnelRecord;

const { SuccessorChannel, PredecessorChannel, LANE_BATCH } = (await import(join(DIST, 'process/move-channel.js'))) as Channel;
const { freezeSocket } = (await import(join(DIST, 'util/node-internals.js'))) as Internals;

const record: TunnelRecord = { kind: 'tcp', service: 'echo', cluster: null, endpoint: '127.0.0.1:1', peer: '127.0.0.1:2', startedAt: Date.now(), method: null, path: null, status: 0, retries: 0, priorBytesIn: 0, priorBytesOut: 0 };
const ends = { clientFin: false, endpointFin: false, clientShut: false, endpointShut: false };

if (process.argv[2] === 'receiver') {
  const { joinTunnel } = (await import(join(DIST, 'dataplane/builtin/tunnel-join.js'))) as Join;
  let joined = 0;
  let start: NodeJS.CpuUsage | null = null;
  const kept: unknown[] = [];
  const channel = new PredecessorChannel(
    CHANNEL_FD,
    (part, client, endpoint) => {
      start ??= process.cpuUsage();
      kept.push(joinTunnel(undefined, part.record, part.ends, client, endpoint));
      if (++joined === N) {
        // The nextTicks a join leaves count too.
        setImmediate(() => {
          const used = process.cpuUsage(start!);
          process.send!({ userUs: used.user / N, systemUs: used.system / N, laneBatches: channel.laneBatches }, () => process.exit(0));
        });
      }
    },
    () => {},
  );
} else {
  const server = createServer({ pauseOnConnect: true });
  const accepted: Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const clients: Socket[] = [];
  for (let i = 0; i < 2 * N; i++) {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    clients.push(c);
    // Bounded by the backlog: wait for the server to catch up every 100.
    if (i % 100 === 99) while (accepted.length < i - 50) await new Promise((r) => setTimeout(r, 2));
  }
  while (accepted.length < 2 * N) await new Promise((r) => setTimeout(r, 5));
  const receiver = fork(new URL(import.meta.url).pathname, ['receiver'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'] });
  const ours = receiver.stdio[CHANNEL_FD] as Socket & { _handle: { fd: number; readStop(): number } };
  ours._handle.readStop();
  let sent = 0;
  let inFlight = 0;
  const channel = new SuccessorChannel(
    ours._handle.fd,
    () => {
      inFlight--;
      pump();
    },
    () => {},
  );
  // As a draining worker's mover: what one turn can send goes together (tunnel-move.ts).
  let scheduled = false;
  function pump(): void {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      while (inFlight < WINDOW && sent < N) {
        const batch = [];
        while (batch.length < LANE_BATCH && inFlight < WINDOW && sent < N) {
          const id = sent++;
          inFlight++;
          batch.push({ part: { t: 'tunnel', id, part: 'endpoint', key: 'k', record, ends, frozenAt: Date.now() } as const, client: freezeSocket(accepted[2 * id]!)!, endpoint: freezeSocket(accepted[2 * id + 1]!)! });
        }
        if (MODE === 'lines') for (const t of batch) channel.sendTunnel(t.part, t.client, t.endpoint, () => {});
        else channel.sendTunnels(batch, () => {});
      }
    });
  }
  pump();
  const [result] = (await once(receiver, 'message')) as [{ userUs: number; systemUs: number; laneBatches: number }];
  console.log(
    `${N} tunnels joined by a fresh worker process (${MODE === 'lane' ? `${result.laneBatches} lane batches` : 'two lines each'}): ` +
      `${result.userUs.toFixed(1)} µs user + ${result.systemUs.toFixed(1)} µs system CPU per tunnel (Node ${process.version})`,
  );
  for (const s of [...accepted, ...clients]) s.destroy();
  server.close();
  receiver.kill();
}
