// The three data planes of the driver conformance suite (test/driver-conformance.test.ts), each a
// real `hitless run` process driven only through its public surface: PUT /config, GET /status,
// GET /config, the config file + SIGHUP. Nothing here knows the Driver interface.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { AdminReply, ApplyRecordDoc, StatusDoc } from './admin.js';
import { HitlessProcess } from './hitless-process.js';
import { haproxyMissing } from './paths.js';
import { listeningInode } from './proc-net-tcp.js';
import { waitFor, within } from './wait.js';

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
export const loopback = (port: number): string => `127.0.0.1:${port}`;

export type PlaneName = 'builtin' | 'supervisor' | 'haproxy';

export interface PlaneSpec {
  readonly name: PlaneName;
  readonly title: string;
  readonly workers: number;
  readonly skip: string | false;
  /** The `dataplane:` section, given the instance's private temp dir. */
  readonly dataplane?: (dir: string) => Record<string, unknown>;
}

export const PLANES: readonly PlaneSpec[] = [
  { name: 'builtin', title: 'builtin data plane, one process (hitless run --workers 0)', workers: 0, skip: false },
  { name: 'supervisor', title: 'supervisor + 2 workers (hitless run --workers 2)', workers: 2, skip: false },
  {
    name: 'haproxy',
    title: 'HAProxy data plane (dataplane.driver: haproxy)',
    // The HAProxy driver runs in one process: --workers 0 says so (an explicit --workers N is refused).
    workers: 0,
    skip: haproxyMissing,
    dataplane: (dir) => ({ driver: 'haproxy', haproxy: { state_dir: join(dir, 'haproxy') } }),
  },
];

export type Service = Record<string, unknown>;
export type Services = Record<string, Service>;
export type EndpointList = ReadonlyArray<string | { address: string; weight?: number }>;

/** A tcp-mode service on 127.0.0.1:port. */
export const tcp = (port: number, endpoints: EndpointList, extra: Service = {}): Service => ({ mode: 'tcp', listen: loopback(port), endpoints, ...extra });
/** An http-mode service on 127.0.0.1:port; `extra` names its endpoints or clusters and routes. */
export const web = (port: number, extra: Service): Service => ({ mode: 'http', listen: loopback(port), ...extra });

/** GET /status as read here: the common document plus each plane's own section. */
export interface PlaneStatus extends StatusDoc {
  readonly haproxy?: {
    reloads: number;
    draining: number;
    master: { pid: number; reloads: number } | null;
    worker: { pid: number } | null;
    oldWorkers: Array<{ pid: number }>;
  };
  readonly process?: StatusDoc['process'] & { workers: Array<{ pid: number; state: string; committed: { patch: number; whole: number }; prepares: number | null }> };
}

export type Snapshot = {
  readonly hash: string | undefined;
  readonly configText: string;
  readonly etag: string | undefined;
  /** `committed`: what the supervisor counted; `prepares`: config changes each worker itself says it was asked to prepare. */
  readonly workers: Array<{ pid: number; state: string; committed: { patch: number; whole: number }; prepares: number | null }> | null;
  readonly [part: string]: unknown;
};

/** One running instance of a plane, driven through its admin API, config file and signals. */
export class Plane {
  private h: HitlessProcess | undefined;

  constructor(readonly spec: PlaneSpec) {}

  get name(): PlaneName {
    return this.spec.name;
  }

  private get proc(): HitlessProcess {
    assert.ok(this.h, `${this.name}: not started`);
    return this.h;
  }

  async start(services: Services): Promise<void> {
    this.h = await HitlessProcess.start({ workers: this.spec.workers, logLevel: 'warn', drain: '500ms', config: (admin) => this.textFor(admin, services) });
    await this.status();
  }

  private textFor(admin: string, services: Services): string {
    const dataplane = this.spec.dataplane?.(dirname(admin.slice('unix:'.length)));
    return stringify({ admin: { listen: admin }, ...(dataplane ? { dataplane } : {}), services }, { lineWidth: 0 });
  }

  /** The config file text for `services` on this plane. */
  text(services: Services): string {
    return this.textFor(this.proc.admin, services);
  }

  put(text: string): Promise<AdminReply> {
    return this.proc.put(text);
  }

  /** PUT /config that must apply; returns the record and the text. */
  async apply(services: Services): Promise<{ record: ApplyRecordDoc; text: string }> {
    const text = this.text(services);
    const res = await this.put(text);
    assert.equal(res.status, 200, `${this.name}: PUT /config: HTTP ${res.status} ${res.text}`);
    const record = res.json<ApplyRecordDoc>();
    assert.equal(record.result, 'applied', `${this.name}: ${res.text}`);
    return { record, text };
  }

  /**
   * A case's starting point: its config applied, and nothing left over from the case before
   * (no draining listener, no old HAProxy worker, no endpoint removal in progress), so what the
   * case compares is its own doing.
   */
  async settleOn(services: Services): Promise<string> {
    const { text } = await this.apply(services);
    await waitFor(`${this.name}: the previous case's listeners and processes to be gone`, async () => {
      const s = await this.status();
      const drained = s.listeners.every((l) => l.state === 'active');
      const haproxy = !s.haproxy || (s.haproxy.oldWorkers.length === 0 && s.haproxy.draining === 0);
      return drained && haproxy;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    return text;
  }

  async status(): Promise<PlaneStatus> {
    return (await this.proc.status()) as PlaneStatus;
  }

  signal(signal: NodeJS.Signals): void {
    this.proc.signal(signal);
  }

  /** Applies the file's new content through SIGHUP; resolves once it runs. */
  async reload(services: Services): Promise<string> {
    const text = this.text(services);
    this.proc.writeConfig(text);
    this.proc.signal('SIGHUP');
    await waitFor(`${this.name}: the SIGHUP apply`, async () => (await this.status()).config?.hash === sha256(text), { timeoutMs: 20_000 });
    return text;
  }

  /**
   * The listening socket on each port: the kernel's inode and what GET /status reports. The
   * builtin plane and the supervisor report the socket they own, which must be the kernel's;
   * HAProxy's sockets live in its own processes (passed from worker to worker on a reload), so
   * hitless reports none there and the kernel's table is the only witness.
   */
  async sockets(ports: readonly number[]): Promise<Record<number, string>> {
    const s = await this.status();
    const out: Record<number, string> = {};
    for (const port of ports) {
      const inode = listeningInode(port);
      const listener = s.listeners.find((l) => l.address === loopback(port));
      assert.ok(listener, `${this.name}: no listener ${loopback(port)} in status`);
      assert.equal(listener.socket, this.name === 'haproxy' ? null : `socket:[${inode}]`, `${this.name}: the socket status reports for ${loopback(port)}`);
      out[port] = inode;
    }
    return out;
  }

  /**
   * Everything an apply could change, without traffic counters: the running config (hash, GET
   * /config text and ETag), services and endpoints, listeners and their sockets, and the data
   * plane's processes (the supervisor's workers, what they committed and were asked to prepare; HAProxy's master,
   * worker and reload count).
   */
  async snapshot(ports: readonly number[]): Promise<Snapshot> {
    const s = await this.status();
    const config = await this.proc.request('GET', '/config');
    return {
      hash: s.config?.hash,
      configText: config.text,
      etag: config.headers.etag as string | undefined,
      services: s.services.map((v) => ({ name: v.name, listen: v.listen, endpoints: v.endpoints.map((e) => `${e.address} w${e.weight}`) })),
      listeners: s.listeners.map((l) => ({ address: l.address, state: l.state, socket: l.socket })),
      kernel: ports.map((port) => listeningInode(port)),
      workers: s.process?.workers.map((w) => ({ pid: w.pid, state: w.state, committed: w.committed, prepares: w.prepares })) ?? null,
      haproxy: s.haproxy ? { reloads: s.haproxy.reloads, master: s.haproxy.master?.pid, masterReloads: s.haproxy.master?.reloads, worker: s.haproxy.worker?.pid } : null,
    };
  }

  /**
   * Drains (SIGTERM) and waits; then kills by pid whatever of this instance's tree is left (see
   * HitlessProcess.kill). A hitless that exits on SIGTERM has stopped its HAProxy first.
   */
  async stop(): Promise<void> {
    const h = this.h;
    if (!h) return;
    let exitedBySigterm = false;
    if (!h.exit) {
      h.signal('SIGTERM');
      exitedBySigterm = await within(15_000, `${this.name}: hitless to exit after SIGTERM`, h.exited).then(() => true, () => false);
    }
    const outlived = exitedBySigterm ? h.tree().filter((p) => p.comm === 'haproxy') : [];
    await h.kill();
    assert.deepEqual(outlived.map((p) => `${p.pid} ${p.cmdline}`), [], `${this.name}: HAProxy processes still running after hitless exited on SIGTERM`);
  }
}
