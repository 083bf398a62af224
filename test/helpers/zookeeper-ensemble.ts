// A 3-server ZooKeeper ensemble from the Debian package, on loopback: one JVM per member, each
// with its own data dir (holding its myid), client port, and the shared server.N=peer:election
// lines. Every port is drawn from 22000-22999 and checked free by binding it. A member can be
// frozen (SIGSTOP: it keeps its sockets and answers nothing, as a hung server does), thawed,
// killed (SIGKILL) and started again with its data. Only these children are ever signalled, by pid.
//
// tickTime 250 ms keeps elections and session expiry quick; syncLimit 8 ticks (2 s) is how long
// the others wait for a frozen leader before electing another one.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portRange } from './ports.js';
import { RegistryProcess } from './registry-process.js';
import { waitFor } from './wait.js';

export { zookeeperMissing } from './zookeeper.js';

const JAVA = '/usr/bin/java';
const JAR = '/usr/share/java/zookeeper.jar';
const PORT_LOW = 22_000;
const PORT_HIGH = 22_999;

export type MemberMode = 'leader' | 'follower' | 'standalone' | null;

export class ZookeeperMember extends RegistryProcess {
  constructor(
    dir: string,
    readonly id: number,
    readonly clientPort: number,
  ) {
    super(`zookeeper member ${id} (127.0.0.1:${clientPort})`, dir);
  }

  /** "127.0.0.1:port", as one entry of `hosts:`. */
  get host(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  /** Its role as it answers `srvr`; null when it does not serve clients (no quorum, frozen, down). */
  async mode(timeoutMs = 1_000): Promise<MemberMode> {
    const answer = await fourLetterWord(this.clientPort, 'srvr', timeoutMs).catch(() => '');
    return (/^Mode: (leader|follower|standalone)$/m.exec(answer)?.[1] as MemberMode) ?? null;
  }

  protected command() {
    // Serial GC and C1 only: three JVMs start faster and stay small on a 2-core machine.
    const jvm = ['-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];
    return { file: JAVA, args: [...jvm, '-cp', `${this.dir}:${JAR}`, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', join(this.dir, 'zoo.cfg')] };
  }

  /** Serving means being in a quorum: a member alone answers `srvr` with "not currently serving". */
  protected async ready(): Promise<boolean> {
    return (await this.mode()) !== null;
  }
}

export class ZookeeperEnsemble {
  private constructor(
    readonly dir: string,
    readonly members: readonly ZookeeperMember[],
  ) {}

  /** Starts `size` members and waits until every one serves (a leader has been elected). */
  static async launch(size = 3): Promise<ZookeeperEnsemble> {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-zk-ensemble-'));
    const ports: Array<{ client: number; peer: number; election: number }> = [];
    for (let i = 0; i < size; i++) ports.push({ client: await reservePort(), peer: await reservePort(), election: await reservePort() });
    const servers = ports.map((p, i) => `server.${i + 1}=127.0.0.1:${p.peer}:${p.election}`);
    const members = ports.map((p, i) => {
      const id = i + 1;
      const memberDir = join(dir, `member-${id}`);
      mkdirSync(join(memberDir, 'data'), { recursive: true });
      writeFileSync(join(memberDir, 'data', 'myid'), `${id}\n`);
      writeFileSync(join(memberDir, 'zoo.cfg'), `${memberConfig(join(memberDir, 'data'), p.client, servers).join('\n')}\n`);
      return new ZookeeperMember(memberDir, id, p.client);
    });
    const ensemble = new ZookeeperEnsemble(dir, members);
    try {
      await Promise.all(members.map((m) => m.start(45_000)));
    } catch (err) {
      await ensemble.destroy();
      throw err;
    }
    return ensemble;
  }

  /** Every member, as `hosts:` in a config. */
  get hosts(): string[] {
    return this.members.map((m) => m.host);
  }

  /** The members other than `member`. */
  others(member: ZookeeperMember): ZookeeperMember[] {
    return this.members.filter((m) => m !== member);
  }

  /**
   * The member that process `pid` (or one of its children) holds an established connection to,
   * read from the kernel's socket table: an independent witness of where a client is connected.
   * Null when it holds none; throws when it holds connections to several members.
   */
  connectedMember(pid: number): ZookeeperMember | null {
    const inodes = new Set([pid, ...childrenOf(pid)].flatMap(socketInodes));
    const ports = new Set(established().filter((e) => inodes.has(e.inode)).map((e) => e.remotePort));
    const found = this.members.filter((m) => ports.has(m.clientPort));
    if (found.length > 1) throw new Error(`pid ${pid} is connected to several members: ${found.map((m) => m.name).join(', ')}`);
    return found[0] ?? null;
  }

  /** Waits until every member that runs and is not frozen serves again (after a thaw or restart). */
  async serving(timeoutMs = 30_000): Promise<void> {
    await waitFor('every ZooKeeper member to serve', async () => (await Promise.all(this.members.map((m) => m.mode()))).every((mode) => mode !== null), { timeoutMs, intervalMs: 100 });
  }

  /** Stops every member (thawing a frozen one first) and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function memberConfig(dataDir: string, clientPort: number, servers: string[]): string[] {
  return [
    'tickTime=250',
    'initLimit=40',
    'syncLimit=8',
    `dataDir=${dataDir}`,
    `clientPort=${clientPort}`,
    'clientPortAddress=127.0.0.1',
    'admin.enableServer=false',
    'minSessionTimeout=500',
    'maxSessionTimeout=60000',
    '4lw.commands.whitelist=*',
    'maxClientCnxns=0',
    ...servers,
  ];
}

/** A ZooKeeper four-letter word ("ruok", "srvr", "cons") and its whole answer. */
export function fourLetterWord(port: number, word: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${word} on port ${port}: no answer within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(word));
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

/** A free port in 22000-22999, claimed for this process (helpers/ports.ts); also for the tests' own listeners. */
const reservePort = portRange(PORT_LOW, PORT_HIGH);
export const reserveEnsemblePort = reservePort;

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Inodes of the sockets process `pid` has open ("socket:[123]" links in /proc/PID/fd). */
function socketInodes(pid: number): string[] {
  const inodes: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.push(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/** Established IPv4 TCP connections: their inode and remote port. */
function established(): Array<{ inode: string; remotePort: number }> {
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[3] === '01')
    .map((f) => ({ inode: f[9], remotePort: parseInt(f[2].split(':')[1], 16) }));
}
