// This host's endpoint as an ephemeral, sequential znode under the service path (nerve's way):
// it vanishes by itself if we die, and we remove it when the check fails or we stop. A new
// session (after an expiry) has lost the node, so it is created again.
//
// `registered` claims only what is known: an ephemeral node lives exactly as long as the session
// that created it, so the node is known to exist while that session is the one connected and a
// member has answered within the read timeout (ZookeeperSession.live). A hung member, a lost
// connection or an expiry makes it false at once, until a live member confirms the session (it
// survived: the node is still there) or a new session has created the node again.
import zookeeper from 'node-zookeeper-client';
import type { ZookeeperTarget } from '../config/discovery-model.js';
import { zookeeperName } from '../discovery/registry-names.js';
import { ZookeeperSession } from '../discovery/zookeeper-session.js';
import type { RegistryEntry } from './registry-entry.js';
import { SerialReconciler } from './serial-reconciler.js';

export class ZookeeperRegistration implements RegistryEntry {
  private readonly reconciler = new SerialReconciler(
    () => {
      if (this.stopped || !this.session.connected || this.wanted === (this.node !== null)) return null;
      return this.wanted ? this.create() : this.remove();
    },
    (err) => this.onError(err),
    500,
  );
  readonly description: string;
  private readonly session: ZookeeperSession;
  private node: string | null = null;
  /** The client (one client is one session) that created `node`. */
  private nodeClient: zookeeper.Client | null = null;
  private wanted = false;
  private stopped = false;
  private readonly onConnected = (fresh: boolean) => {
    if (fresh) this.forget();
    this.reconcile();
  };
  private readonly onDisconnected = (reason: string) => {
    if (this.node) this.onError(new Error(`${this.description}: ${reason}; not reported as registered until a live member confirms the session or the node is created again`));
  };

  constructor(
    private readonly target: ZookeeperTarget,
    /** Node name prefix; the sequence number makes each registration unique. */
    private readonly prefix: string,
    private readonly data: Buffer,
    private readonly onError: (error: Error) => void,
  ) {
    this.description = zookeeperName(target, `/${prefix}`);
    this.session = ZookeeperSession.acquire(target.hosts, target.sessionTimeout);
    this.session.on('connected', this.onConnected);
    this.session.on('disconnected', this.onDisconnected);
  }

  get registered(): boolean {
    return this.node !== null && this.nodeClient === this.session.client && this.session.live;
  }

  setWanted(up: boolean): void {
    this.wanted = up;
    this.reconcile();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.stopped = true;
    this.session.off('connected', this.onConnected);
    this.session.off('disconnected', this.onDisconnected);
    await this.reconciler.settle();
    // Removing first makes the deregistration immediate for watchers; closing the session would too.
    if (this.node && this.session.connected) await this.call<void>((cb) => this.session.client.remove(this.node!, cb)).catch(() => {});
    this.forget();
    await this.session.release();
  }

  /** Makes the registry match `wanted`; serialised, and retried while the session is up. */
  private reconcile(): void {
    this.reconciler.run();
  }

  private async create(): Promise<void> {
    const client = this.session.client;
    const path = this.target.path;
    await this.call<string>((cb) => client.mkdirp(path, cb));
    // After a lost reply, our node may exist already: adopt it rather than register twice.
    const mine = await this.findOwn(client);
    if (mine) return this.keep(mine, client);
    const created = await this.call<string>((cb) => client.create(`${path}/${this.prefix}`, this.data, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb));
    this.keep(created, client);
  }

  /** Our node, created (or found) by `client`'s session; a node of a replaced session is not ours to keep. */
  private keep(node: string, client: zookeeper.Client): void {
    if (client !== this.session.client) return;
    this.node = node;
    this.nodeClient = client;
  }

  private forget(): void {
    this.node = null;
    this.nodeClient = null;
  }

  private async remove(): Promise<void> {
    const node = this.node!;
    await this.call<void>((cb) => this.session.client.remove(node, cb)).catch((err: zookeeper.Exception) => {
      if (err.getCode?.() !== zookeeper.Exception.NO_NODE) throw err;
    });
    this.forget();
  }

  private async findOwn(client: zookeeper.Client): Promise<string | null> {
    const children = await this.call<string[]>((cb) => client.getChildren(this.target.path, cb));
    const session = client.getSessionId();
    for (const child of children.filter((c) => c.startsWith(this.prefix))) {
      const path = `${this.target.path}/${child}`;
      const stat = await this.call<zookeeper.Stat | null>((cb) => client.exists(path, cb));
      if (stat && Buffer.compare(stat.ephemeralOwner, session) === 0) return path;
    }
    return null;
  }

  private call<T>(run: (cb: (err: Error | zookeeper.Exception | null, value: T) => void) => void): Promise<T> {
    return this.session.call<T>((_client, cb) => run(cb));
  }
}
