// The lane (src/util/fd-lane.ts) and the handle it feeds (node-internals.ts connectedTcpHandle),
// over real loopback connections in this process: descriptors sent in one message arrive in order,
// each still the same connection (a byte written by its peer is read through the new handle, and
// an answer goes back), for every batch size up to the limit; an empty lane says EAGAIN, a lane
// whose other end closed says so once it is empty, and a batch past the limit is refused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FdLane, fdLaneSupport, MAX_LANE_FDS } from '../src/util/fd-lane.js';
import { connectedTcpHandle, socketFd, socketFromHandle } from '../src/util/node-internals.js';
import { within } from './helpers/wait.js';

const EAGAIN = 11;
const EPIPE = 32;

describe('the descriptor lane', { skip: fdLaneSupport().ok ? false : (fdLaneSupport() as { why: string }).why }, () => {
  let server: Server;
  const accepted: Socket[] = [];
  const open: Socket[] = [];

  before(async () => {
    server = createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    server.listen({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
  });

  after(() => {
    for (const s of [...accepted, ...open]) s.destroy();
    server.close();
  });

  /** `n` connections: the clients, and the accepted sides (paused, never read here). */
  async function pairs(n: number): Promise<Array<{ client: Socket; accepted: Socket }>> {
    const from = accepted.length;
    const clients: Socket[] = [];
    for (let i = 0; i < n; i++) {
      const c = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
      c.on('error', () => {});
      clients.push(c);
      open.push(c);
      await once(c, 'connect');
    }
    await within(5_000, 'every connection accepted', new Promise<void>((r) => {
      const t = setInterval(() => accepted.length >= from + n && (clearInterval(t), r()), 2);
    }));
    return clients.map((client, i) => ({ client, accepted: accepted[from + i]! }));
  }

  it('every batch size from 1 to 64: each descriptor arrives in order and is still its connection', async () => {
    const made = FdLane.create();
    assert.ok(!(made instanceof Error), String(made));
    const receiver = FdLane.adopt(made.peerFd, () => {});
    assert.ok(!(receiver instanceof Error));
    try {
      for (const n of [1, 2, 31, 32, 63, MAX_LANE_FDS]) {
        const batch = await pairs(n);
        assert.equal(made.lane.send(batch.map((p) => socketFd(p.accepted)!)), 0, `send ${n}`);
        const got: ReturnType<FdLane['receive']> = receiver.receive();
        assert.ok(typeof got !== 'number', `receive ${n}: errno ${String(got)}`);
        const fds: readonly number[] = got.fds;
        assert.equal(fds.length, n, `descriptors received of ${n}`);
        await Promise.all(
          fds.map(async (fd: number, i: number) => {
            const handle = connectedTcpHandle(fd);
            assert.ok(typeof handle !== 'number', `handle for descriptor ${i}: errno ${String(handle)}`);
            const moved = socketFromHandle(handle);
            open.push(moved);
            moved.resume(); // (built paused, as a moved connection is)
            const { client } = batch[i]!;
            client.write(`hello ${i}\n`);
            const [line] = (await within(5_000, `connection ${i} of ${n} to read its peer's bytes`, once(moved, 'data'))) as [Buffer];
            assert.equal(line.toString(), `hello ${i}\n`, `descriptor ${i} of ${n} is its own connection`);
            moved.write(`back ${i}\n`);
            const [answer] = (await within(5_000, `client ${i} to read the answer`, once(client, 'data'))) as [Buffer];
            assert.equal(answer.toString(), `back ${i}\n`);
          }),
        );
      }
    } finally {
      made.lane.close();
      receiver.close();
    }
  });

  it('an empty lane says EAGAIN; one whose other end closed says EPIPE once empty; 65 descriptors are refused', async () => {
    const made = FdLane.create();
    assert.ok(!(made instanceof Error));
    const receiver = FdLane.adopt(made.peerFd, () => {});
    assert.ok(!(receiver instanceof Error));
    assert.equal(receiver.receive(), EAGAIN);
    const [one] = await pairs(1);
    assert.throws(() => made.lane.send(new Array(MAX_LANE_FDS + 1).fill(socketFd(one!.accepted)!)), RangeError);
    assert.equal(made.lane.send([socketFd(one!.accepted)!]), 0);
    made.lane.close();
    const got = receiver.receive();
    assert.ok(typeof got !== 'number' && got.fds.length === 1, 'what was sent before the close still arrives');
    assert.equal(receiver.receive(), EPIPE);
    receiver.close();
  });
});
