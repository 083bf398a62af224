// The move channel (src/process/move-channel.ts) between two real processes: every tunnel written
// arrives, each with its own two connections (never one tunnel's client beside another's
// endpoint), even when the writer has exited before the reader read any of it. That case is what
// libuv gets wrong on its own (it takes the writer's hang-up for the end after the first
// descriptor-carrying message); node-internals.ts reads on past it. Both ways of sending: batches
// over a lane (util/fd-lane.ts; the lane's own end is still unread in the channel when the writer
// exits), and two descriptor-carrying lines per tunnel (where koffi cannot load).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/paths.js';
import { within } from './helpers/wait.js';

const CHILD = join(ROOT, 'test/helpers/move-channel-child.ts');

type Msg = { t: 'ready' } | { t: 'done'; joined: number; lost: number; laneBatches: number } | { t: 'error'; errno: number };

function nextMessage(child: ChildProcess, t: Msg['t']): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const on = (m: Msg): void => {
      if (m.t === 'error') reject(new Error(`the sender's write failed: errno ${m.errno}`));
      if (m.t !== t) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.once('exit', (code, signal) => t !== 'ready' || reject(new Error(`child exited early (${signal ?? code})`)));
  });
}

/** Moves `n` tunnels from a sender that exits at once to a receiver; returns what each connection heard. */
async function moveAll(n: number, mode: 'lane' | 'lines' | 'orphan'): Promise<{ labels: Map<Socket, string>; heard: Map<Socket, string>; done: Extract<Msg, { t: 'done' }> }> {
  const labels = new Map<Socket, string>();
  const heard = new Map<Socket, string>();
  const server = createServer((s) => {
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString();
      const lines = text.split('\n');
      if (!labels.has(s) && lines.length > 1) labels.set(s, lines[0]);
      if (lines.length > 2) heard.set(s, lines[1]);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const sender = spawn(process.execPath, ['--import', 'tsx', CHILD, 'send', String(port), String(n), mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'] });
  try {
    await within(60_000, 'the sender to open its connections', nextMessage(sender, 'ready'));
    // The sender's end of the channel, as the supervisor holds it: never read here.
    const end = sender.stdio[4] as Socket;
    end.pause();
    const receiver = spawn(process.execPath, ['--import', 'tsx', CHILD, 'receive'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe', end] });
    end.destroy();
    await within(30_000, 'the receiver to start', nextMessage(receiver, 'ready'));
    const finished = nextMessage(receiver, 'done');
    // The receiver hangs until the sender is gone: every message is still unread at its exit.
    const senderGone = new Promise((resolve) => sender.once('exit', resolve));
    receiver.kill('SIGSTOP');
    sender.send({ t: 'go' });
    await within(30_000, 'the sender to write everything and exit', senderGone);
    receiver.kill('SIGCONT');
    const done = (await within(60_000, 'the receiver to see the channel end', finished)) as Extract<Msg, { t: 'done' }>;
    await within(30_000, 'every connection to hear from the receiver', new Promise<void>((resolve) => {
      // What the receiver says it joined must be heard (the count itself is asserted by the caller).
      const check = setInterval(() => heard.size >= 2 * done.joined && (clearInterval(check), resolve()), 10);
    }));
    receiver.kill();
    return { labels, heard, done };
  } finally {
    sender.kill();
    server.close();
  }
}

describe('the move channel between two workers', () => {
  for (const mode of ['lane', 'lines'] as const) {
    it(`a sender that exits as soon as it has written (${mode}): every tunnel arrives, each with its own pair of connections`, async (t) => {
      // Sizes around a lane batch (32 tunnels), within what the socket buffers hold while the receiver is stopped.
      for (const n of [1, 7, 32, 33, 100]) {
        const { labels, heard, done } = await moveAll(n, mode);
        assert.deepEqual({ joined: done.joined, lost: done.lost }, { joined: n, lost: 0 }, `n = ${n}`);
        assert.equal(done.laneBatches, mode === 'lane' ? Math.ceil(n / 32) : 0, `tunnels that came in lane batches (n = ${n})`);
        for (const [s, label] of labels) {
          const id = label.split(' ')[1];
          assert.equal(heard.get(s), `joined ${id}`, `connection "${label}" was joined as tunnel ${id} (n = ${n})`);
        }
        t.diagnostic(`${n} tunnels: all ${2 * n} connections joined with their own pair, read only after the sender had exited`);
      }
    });
  }

  it('a sender that dies between a lane message and its line: those connections are closed and counted lost, the rest joined', async () => {
    for (const n of [2, 40]) {
      const { labels, heard, done } = await moveAll(n, 'orphan');
      assert.deepEqual({ joined: done.joined, lost: done.lost }, { joined: n - 1, lost: 1 }, `n = ${n}`);
      const orphans = [...labels].filter(([, label]) => label.endsWith(` ${n - 1}`));
      assert.equal(orphans.length, 2, 'the last tunnel\'s two connections');
      for (const [s, label] of orphans) {
        assert.equal(heard.has(s), false, `"${label}" was never joined`);
        await within(10_000, `"${label}" to be closed by the receiver`, s.closed ? Promise.resolve() : new Promise((r) => s.once('close', r)));
      }
    }
  });
});
