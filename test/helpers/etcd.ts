// An etcd member from the Debian package (/usr/bin/etcd) on loopback ports below the ephemeral
// range, with a temp data dir that survives kill/start (as a real restart would). Alone it is a
// single-member cluster (launch()); etcd-cluster.ts starts three that know each other.
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

/** Where one member listens and whom it starts a cluster with. */
export interface EtcdMemberSpec {
  readonly name: string;
  readonly port: number;
  readonly peerPort: number;
  /** `--initial-cluster`: "name=http://127.0.0.1:peerPort,..." for every member. */
  readonly initialCluster: string;
  /** `--initial-cluster-token`: unique per cluster, so two clusters on loopback never mix. */
  readonly token: string;
}

export class EtcdServer extends RegistryProcess {
  constructor(
    dir: string,
    private readonly spec: EtcdMemberSpec,
  ) {
    super(`etcd ${spec.name} 127.0.0.1:${spec.port}`, dir);
  }

  get port(): number {
    return this.spec.port;
  }

  get peerPort(): number {
    return this.spec.peerPort;
  }

  /** The client URL, as one of `endpoints:` in a config. */
  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`;
  }

  static peerUrl(peerPort: number): string {
    return `http://127.0.0.1:${peerPort}`;
  }

  /** A single-member cluster, started and answering. */
  static async launch(): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-etcd-'));
    const [port, peerPort] = [await reservePort(), await reservePort()];
    const spec = { name: 'test', port, peerPort, initialCluster: `test=${EtcdServer.peerUrl(peerPort)}`, token: `hitless-${port}` };
    const server = new EtcdServer(dir, spec);
    await server.start();
    return server;
  }

  protected command() {
    const peer = EtcdServer.peerUrl(this.spec.peerPort);
    return {
      file: ETCD,
      args: [
        '--name', this.spec.name,
        '--data-dir', join(this.dir, 'data'),
        '--listen-client-urls', this.url,
        '--advertise-client-urls', this.url,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', this.spec.initialCluster,
        '--initial-cluster-token', this.spec.token,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'error',
      ],
    };
  }

  /** Serving: /health says true, which etcd answers only while the member has a leader. */
  protected ready(): Promise<boolean> {
    return etcdHealthy(this.spec.port);
  }
}

/** GET /health on a client port: true when the member answers and has a leader. */
export function etcdHealthy(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('true')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
