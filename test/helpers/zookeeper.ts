// A standalone ZooKeeper from the Debian package (java + /usr/share/java/zookeeper.jar, whose
// manifest names its dependencies) on a loopback port below the ephemeral range. A tick of
// 250 ms allows session timeouts down to 500 ms, so expiry tests stay short.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort } from './ports.js';
import { RegistryProcess } from './registry-process.js';

const JAVA = '/usr/bin/java';
const JAR = '/usr/share/java/zookeeper.jar';

/** Why ZooKeeper tests cannot run here (null when they can). */
export function zookeeperMissing(): string | null {
  if (existsSync(JAVA) && existsSync(JAR)) return null;
  return `ZooKeeper is not installed (${JAR} / ${JAVA} missing): apt-get install zookeeper`;
}

export class ZookeeperServer extends RegistryProcess {
  private constructor(
    dir: string,
    readonly port: number,
  ) {
    super(`zookeeper 127.0.0.1:${port}`, dir);
  }

  /** "127.0.0.1:port", as `hosts:` in a config. */
  get hosts(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async launch(): Promise<ZookeeperServer> {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-zk-'));
    mkdirSync(join(dir, 'data'));
    const port = await reservePort();
    const cfg = [
      'tickTime=250',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      'minSessionTimeout=500',
      'maxSessionTimeout=60000',
      '4lw.commands.whitelist=ruok',
      'maxClientCnxns=0',
    ].join('\n');
    writeFileSync(join(dir, 'zoo.cfg'), `${cfg}\n`);
    const server = new ZookeeperServer(dir, port);
    await server.start();
    return server;
  }

  protected command() {
    return {
      file: JAVA,
      args: ['-Xmx256m', '-cp', `${this.dir}:${JAR}`, 'org.apache.zookeeper.server.ZooKeeperServerMain', join(this.dir, 'zoo.cfg')],
    };
  }

  protected ready(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: this.port });
      let answer = '';
      socket.setTimeout(1_000, () => socket.destroy());
      socket.on('connect', () => socket.write('ruok'));
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('error', () => {});
      socket.on('close', () => resolve(answer === 'imok'));
    });
  }
}
