// The two workers of test/move-channel.test.ts, through the real move channel (src/process/
// move-channel.ts): `send PORT N MODE` opens N pairs of connections to the test's server ("A i",
// "B i"), sends each pair as one tunnel over its end (fd 4) — MODE `lane`: in batches over a lane
// (util/fd-lane.ts), as a draining worker does; `lines`: each tunnel as two descriptor-carrying
// lines, the way without koffi; `orphan`: over a lane, the last tunnel's descriptors without their
// line, as a sender killed between the two leaves them — and exits the moment the last is written,
// without waiting to hear that they were taken; `receive` joins each tunnel arriving on fd 5 and
// writes "joined i" on both of its connections, then says how many it joined and lost.
import { connect, type Socket } from 'node:net';
import { LANE_BATCH, PredecessorChannel, PREDECESSOR_FD, SuccessorChannel, SUCCESSOR_FD } from '../../src/process/move-channel.js';
import { freezeSocket, handleFd, socketFromHandle, type NativeTcpHandle } from '../../src/util/node-internals.js';
import type { FdLane } from '../../src/util/fd-lane.js';

const [role, portText, countText, mode] = process.argv.slice(2);
const reply = (msg: object): void => void process.send?.(msg);

function open(port: number, label: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(`${label}\n`, () => resolve(s)));
    s.once('error', reject);
  });
}

if (role === 'send') {
  const port = Number(portText);
  const n = Number(countText);
  const pairs: Array<[Socket, Socket]> = [];
  for (let i = 0; i < n; i++) pairs.push([await open(port, `A ${i}`), await open(port, `B ${i}`)]);
  const channel = new SuccessorChannel(SUCCESSOR_FD, () => {}, () => {});
  const record = { kind: 'tcp', service: 's', cluster: null, endpoint: 'e', peer: 'p', startedAt: 0, method: null, path: null, status: 0, retries: 0, priorBytesIn: 0, priorBytesOut: 0 } as const;
  const ends = { clientFin: false, endpointFin: false, clientShut: false, endpointShut: false };
  const tunnels = pairs.map(([a, b], i) => ({ part: { t: 'tunnel', id: i, part: 'endpoint', key: 'k', record, ends, frozenAt: 0 } as const, client: freezeSocket(a)!, endpoint: freezeSocket(b)! }));
  process.on('message', () => {
    let written = 0;
    const sent = (errno: number): void => {
      if (errno !== 0) reply({ t: 'error', errno });
      // Gone at once: whatever the receiver has not read yet must still reach it.
      if (++written === n) process.exit(0);
    };
    if (mode === 'lines') for (const { part, client, endpoint } of tunnels) channel.sendTunnel(part, client, endpoint, sent);
    else if (mode === 'orphan') {
      const last = tunnels.pop()!;
      channel.sendTunnels(tunnels, (_, errno) => sent(errno));
      // The lane the channel made, reached as its sendTunnels does (the class keeps it private).
      const lane = (channel as unknown as { lane: FdLane }).lane;
      if (lane.send([handleFd(last.client)!, handleFd(last.endpoint)!]) !== 0) reply({ t: 'error', errno: -1 });
      sent(0);
    } else for (let i = 0; i < n; i += LANE_BATCH) channel.sendTunnels(tunnels.slice(i, i + LANE_BATCH), (_, errno) => sent(errno));
  });
  reply({ t: 'ready' });
} else {
  let joined = 0;
  let lost = 0;
  const channel = new PredecessorChannel(
    PREDECESSOR_FD,
    (part, client: NativeTcpHandle, endpoint: NativeTcpHandle) => {
      joined++;
      for (const handle of [client, endpoint]) {
        const s = socketFromHandle(handle);
        s.on('error', () => {});
        s.end(`joined ${part.id}\n`);
      }
    },
    (n) => (lost += n),
  );
  void channel.done.then(() => reply({ t: 'done', joined, lost, laneBatches: channel.laneBatches }));
  reply({ t: 'ready' });
}
