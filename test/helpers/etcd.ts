// A single-member etcd from the Debian package (/usr/bin/etcd) on loopback ports below the
// ephemeral range, with a temp data dir that survives kill/start (as a real restart would).
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort } from './ports.js';
import { RegistryProcess } from './registry-process.js';

const ETCD = '/usr/bin/etcd';

/** Why etcd tests cannot run here (null when they can). */
export function etcdMissing(): string | null {
  return existsSync(ETCD) ? null : `etcd is not installed (${ETCD} missing): apt-get install etcd-server`;
}

export class EtcdServer extends RegistryProcess {
  private constructor(
    dir: string,
    readonly port: number,
    readonly peerPort: number,
  ) {
    super(`etcd 127.0.0.1:${port}`, dir);
  }

  /** The client URL, as `endpoints:` in a config. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async launch(): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-etcd-'));
    const server = new EtcdServer(dir, await reservePort(), await reservePort());
    await server.start();
    return server;
  }

  protected command() {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return {
      file: ETCD,
      args: [
        '--name', 'test',
        '--data-dir', join(this.dir, 'data'),
        '--listen-client-urls', this.url,
        '--advertise-client-urls', this.url,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `test=${peer}`,
        '--logger', 'zap',
        '--log-level', 'error',
      ],
    };
  }

  protected ready(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: this.port, path: '/health', timeout: 1_000, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d.toString()));
        res.on('end', () => resolve(res.statusCode === 200 && body.includes('true')));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }
}
