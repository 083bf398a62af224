// npm run bench:join-cost — the CPU a worker spends to take one moved tunnel (src/process/
// move-channel.ts's receiving side and tunnel-join.ts), measured alone in a fresh process: the
// part of bench:handover's moving time that the receiving workers pay (about two thirds of it),
// without the noise of four processes sharing the CPUs. CPU time, not wall time: steady from run
// to run where bench:handover's times are not, so it says whether a change to the join helps.
//
// This process opens 2 × N connected loopback TCP pairs and sends, over a socketpair opened as
// the move channel is (node-internals.ts openHandlePipe), each tunnel as the draining worker
// does: a client half and an endpoint half, one descriptor per write, at most 32 tunnels ahead.
// A fresh child (dist/) reads them, joins each with joinTunnel, and reports its CPU per tunnel
// (process.cpuUsage: user and system), from its first read to its last join.
//
//   JOIN_TUNNELS=3000 (each needs 4 descriptors here: keep 4 × N under RLIMIT_NOFILE)
import { fork } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT } from './lib/targets.js';

const N = Number(process.env.JOIN_TUNNELS ?? 3000);
const DIST = join(ROOT, 'dist');
const WINDOW = 32;

type Internals = typeof import('../src/util/node-internals.js');
type Join = typeof import('../src/dataplane/builtin/tunnel-join.js');
type TunnelRecord = import('../src/dataplane/builtin/tunnel.js').TunnelRecord;
type NativeTcpHandle = import('../src/util/node-internals.js').NativeTcpHandle;

const { openHandlePipe } = (await import(join(DIST, 'util/node-internals.js'))) as Internals;

const record: TunnelRecord = { kind: 'tcp', service: 'echo', cluster: null, endpoint: '127.0.0.1:1', peer: '127.0.0.1:2', startedAt: Date.now(), method: null, path: null, status: 0, retries: 0, priorBytesIn: 0, priorBytesOut: 0 };
const ends = { clientFin: false, endpointFin: false, clientShut: false, endpointShut: false };

if (process.argv[2] === 'receiver') {
  const { joinTunnel } = (await import(join(DIST, 'dataplane/builtin/tunnel-join.js'))) as Join;
  let joined = 0;
  let text = '';
  let start: NodeJS.CpuUsage | null = null;
  const halves = new Map<number, Parameters<typeof joinTunnel>[3]>();
  const kept: unknown[] = [];
  openHandlePipe(4, (bytes, handle) => {
    if (bytes === null) return;
    start ??= process.cpuUsage();
    text += bytes.toString('utf8');
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const msg = JSON.parse(text.slice(0, nl)) as { id: number; part: 'client' | 'endpoint' };
      text = text.slice(nl + 1);
      if (!handle) throw new Error('a part without its descriptor');
      if (msg.part === 'client') {
        halves.set(msg.id, handle);
        continue;
      }
      kept.push(joinTunnel(undefined, record, ends, halves.get(msg.id)!, handle));
      halves.delete(msg.id);
      if (++joined === N) {
        // The nextTicks a join leaves (each socket starts reading) count too.
        setImmediate(() => {
          const used = process.cpuUsage(start!);
          process.send!({ userUs: used.user / N, systemUs: used.system / N }, () => process.exit(0));
        });
      }
    }
  });
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
  const ours = receiver.stdio[4] as Socket & { _handle: { fd: number; readStop(): number } };
  ours._handle.readStop();
  const channel = openHandlePipe(ours._handle.fd, () => {});
  const handleOf = (s: Socket): NativeTcpHandle => (s as unknown as { _handle: NativeTcpHandle })._handle;
  let sent = 0;
  let inFlight = 0;
  const pump = (): void => {
    while (inFlight < WINDOW && sent < N) {
      const id = sent++;
      inFlight++;
      channel.write(`${JSON.stringify({ t: 'tunnel', id, part: 'client' })}\n`, handleOf(accepted[2 * id]!), () => {});
      channel.write(`${JSON.stringify({ t: 'tunnel', id, part: 'endpoint', key: 'k', record, ends, frozenAt: Date.now() })}\n`, handleOf(accepted[2 * id + 1]!), () => {
        inFlight--;
        setImmediate(pump);
      });
    }
  };
  pump();
  const [result] = (await once(receiver, 'message')) as [{ userUs: number; systemUs: number }];
  console.log(`${N} tunnels joined by a fresh worker process: ${result.userUs.toFixed(1)} µs user + ${result.systemUs.toFixed(1)} µs system CPU per tunnel (Node ${process.version})`);
  for (const s of [...accepted, ...clients]) s.destroy();
  server.close();
  receiver.kill();
}
