// A 3-member etcd cluster from the Debian package, on loopback: one process per member with its
// own data dir, client and peer ports, all started with the same --initial-cluster. A member can
// be frozen (SIGSTOP: the kernel still accepts its connections and acknowledges bytes, but nothing
// answers, as with a hung server), thawed, killed and started again. Only these children are
// ever signalled, by pid. Timings are etcd's defaults (heartbeat 100 ms, election 1 s), so what
// the tests see is what a user's cluster does.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdServer, etcdHealthy } from './etcd.js';
import { portRange } from './ports.js';
import { connectedPorts, heldSockets, type HeldSocket } from './process-sockets.js';
import { waitFor } from './wait.js';

export { etcdMissing } from './etcd.js';

// A range of its own: reservePort (10000-19999) serves the other tests of the same run, and the
// ZooKeeper ensemble uses 22000-22999.
const PORT_LOW = 23_000;
const PORT_HIGH = 23_999;

export class EtcdCluster {
  private constructor(
    readonly dir: string,
    readonly members: readonly EtcdServer[],
  ) {}

  /** Starts `size` members and waits until every one serves (a leader has been elected). */
  static async launch(size = 3): Promise<EtcdCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-etcd-cluster-'));
    const ports: Array<{ port: number; peerPort: number }> = [];
    for (let i = 0; i < size; i++) ports.push({ port: await reserveClusterPort(), peerPort: await reserveClusterPort() });
    const initialCluster = ports.map((p, i) => `m${i}=${EtcdServer.peerUrl(p.peerPort)}`).join(',');
    const token = `hitless-cluster-${ports[0].port}-${process.pid}`;
    const members = ports.map((p, i) => {
      const memberDir = join(dir, `m${i}`);
      mkdirSync(memberDir);
      return new EtcdServer(memberDir, { name: `m${i}`, ...p, initialCluster, token });
    });
    const cluster = new EtcdCluster(dir, members);
    try {
      // All at once: a member alone has no quorum and never reports itself healthy.
      await Promise.all(members.map((m) => m.start(30_000)));
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** Every member's client URL, as `endpoints:` in a config. */
  get urls(): string[] {
    return this.members.map((m) => m.url);
  }

  others(member: EtcdServer): EtcdServer[] {
    return this.members.filter((m) => m !== member);
  }

  /**
   * The member that process `pid` (or a child) holds an established connection to, from the
   * kernel's socket table. Null when none; throws when it is connected to several members.
   */
  connectedMember(pid: number): EtcdServer | null {
    const ports = connectedPorts(pid);
    const found = this.members.filter((m) => ports.has(m.port));
    if (found.length > 1) throw new Error(`pid ${pid} is connected to several members: ${found.map((m) => m.name).join(', ')}`);
    return found[0] ?? null;
  }

  /** The TCP sockets process `pid` (or a child) holds to `member`'s client port, in any state. */
  socketsTo(pid: number, member: EtcdServer): HeldSocket[] {
    return heldSockets(pid).filter((s) => s.remotePort === member.port);
  }

  /** Every socket `pid` holds to a member, for failure messages: "m0 ESTABLISHED (local port 41234)". */
  describeSockets(pid: number): string {
    const lines = this.members.flatMap((m) => this.socketsTo(pid, m).map((s) => `${m.name} ${s.state} (local port ${s.localPort}, inode ${s.inode})`));
    return lines.length > 0 ? lines.join('; ') : 'none';
  }

  /** Waits until every member serves again (after a thaw): each has a leader. */
  async serving(timeoutMs = 20_000): Promise<void> {
    await waitFor('every etcd member to serve', async () => (await Promise.all(this.members.map((m) => etcdHealthy(m.port)))).every(Boolean), {
      timeoutMs,
      intervalMs: 100,
    });
  }

  /** Thaws and stops every member, then removes the data. */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A free port in 23000-23999, claimed for this process (helpers/ports.ts); also for the tests' listeners. */
export const reserveClusterPort = portRange(PORT_LOW, PORT_HIGH);
