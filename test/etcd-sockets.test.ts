// The etcd client's own connections to a frozen member (src/discovery/etcd-sockets.ts), seen in
// this process's socket table: a frozen etcd (SIGSTOP) accepts a connection in its kernel and
// never sends the HTTP/2 SETTINGS that grpc-js waits for, without a deadline. What must hold:
// - a connection waiting on that handshake is gone at once when the member is given up;
// - a member given up while another is in use is not dialled (a closing channel retries).
// The whole behaviour in a cluster, through `hitless run`, is test/etcd-hang.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Host } from 'etcd3/lib/connection-pool.js';
import { EtcdClient } from '../src/discovery/etcd-client.js';
import { EtcdServer, etcdMissing } from './helpers/etcd.js';
import { heldSockets, tcpTable } from './helpers/process-sockets.js';
import { waitFor } from './helpers/wait.js';

const missing = etcdMissing();
if (missing) console.log(`# skipping the etcd socket tests: ${missing}`);

/** This process's own sockets to `server`'s client port, in any state (etcd, a child, dials itself). */
const socketsTo = (server: EtcdServer) => heldSockets(process.pid, { children: false }).filter((s) => s.remotePort === server.port);

/**
 * The client's sockets to `server`: those opened since this was called. The helper's last
 * GET /health to the member may still be open when it is frozen (etcd froze before closing it).
 */
function newSocketsTo(server: EtcdServer): () => ReturnType<typeof socketsTo> {
  const old = new Set(socketsTo(server).map((s) => s.inode));
  return () => socketsTo(server).filter((s) => !old.has(s.inode));
}

describe("the etcd client's connections to a frozen member", { skip: missing ?? false }, () => {
  let frozen: EtcdServer;
  let healthy: EtcdServer;
  const clients: EtcdClient[] = [];

  before(async () => {
    [frozen, healthy] = await Promise.all([EtcdServer.launch(), EtcdServer.launch()]);
    frozen.freeze();
  });

  after(async () => {
    for (const c of clients) c.close();
    frozen?.thaw();
    await Promise.all([frozen?.destroy(), healthy?.destroy()]);
  });

  function client(endpoints: string[]): EtcdClient {
    const c = new EtcdClient(endpoints);
    clients.push(c);
    return c;
  }

  it('resets a connection still waiting for the HTTP/2 handshake when the member is given up', async () => {
    const sockets = newSocketsTo(frozen);
    const c = client([frozen.url]);
    const call = c.get('k').then(
      () => 'answered',
      () => 'failed',
    );
    // Waiting on the handshake: the client's HTTP/2 preface sits unread in the frozen member's
    // end of the connection (not even accepted; grpc-js writes the preface once the connection
    // is handed to it, so ours knows it by then).
    await waitFor('the client to send its HTTP/2 preface to the frozen member', () => {
      const ours = new Set(sockets().map((s) => s.localPort));
      return tcpTable().some((s) => s.localPort === frozen.port && ours.has(s.remotePort) && s.unread > 0);
    }, { timeoutMs: 5_000, intervalMs: 10 });
    c.members.failed(c.members.list[0], new Error('given up by the test'));
    // The reset happens in failed(); only the fd's release is left to the event loop. (The call
    // still pending makes grpc-js dial again after its backoff, a second later: the only member
    // given is used even when given up.)
    await waitFor('no socket to the frozen member', () => sockets().length === 0, { timeoutMs: 500, intervalMs: 10 }).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(sockets())}`);
    });
    c.close(); // its pending call would dial again, into the next test's count
    assert.equal(await call, 'failed');
  });

  it('does not dial a member it gave up on while another member is in use', async () => {
    const sockets = newSocketsTo(frozen);
    const c = client([frozen.url, healthy.url]);
    const [frozenMember, healthyMember] = c.members.list;
    c.members.failed(frozenMember, new Error('given up by the test'));
    assert.equal(c.members.current(), healthyMember);
    // What etcd3 does to a channel that was connecting when its member was given up: it waits
    // for it to settle before closing it, and meanwhile grpc-js dials again.
    const host = (c as unknown as { pool: { hosts: Host[] } }).pool.hosts.find((h) => (h as unknown as { host: string }).host === new URL(frozen.url).host)!;
    const kv = host.getServiceClient('KV');
    let longest = 0;
    let seen = 0;
    const deadline = Date.now() + 1_500;
    const settled = new Promise<Error | undefined>((resolve) => kv.waitForReady(deadline, resolve));
    // Sampled while the channel tries (bounded by its 1.5 s deadline): a connection may show for
    // the instant between its connect and its reset, never longer.
    const firstSeen = new Map<string, number>();
    while (Date.now() < deadline) {
      for (const s of sockets()) {
        seen++;
        const from = firstSeen.get(s.inode) ?? Date.now();
        firstSeen.set(s.inode, from);
        longest = Math.max(longest, Date.now() - from);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok((await settled) instanceof Error, 'the channel never became ready');
    assert.ok(longest < 200, `a connection to the given-up member lived ${longest} ms (${seen} sightings)`);
    assert.deepEqual(sockets(), [], 'none is left');
    c.close();
  });
});
