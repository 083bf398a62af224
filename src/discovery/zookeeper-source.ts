// Endpoints are the children of one znode, each holding nerve's JSON. A child watch tells us when
// the set changes; a data watch per child tells us when one entry changes. Reconnects keep the
// session (the client re-arms watches, and we re-list anyway to be sure); a session expiry loses
// every watch, so the shared session opens a new one and we list and watch from scratch.
//
// nerve's path-encoded names (base64_<length>_<json>_<seq>) are read when the data is unusable.
// Malformed child data: that child is left out and named in `problems`; the other children are
// still the truth and are used (the manager shows the source degraded until the data is fixed).
import zookeeper from 'node-zookeeper-client';
import type { ZookeeperTarget } from '../config/discovery-model.js';
import { collectEntries, parseChild, type ParsedEntry } from './parse-endpoint.js';
import { zookeeperName } from './registry-names.js';
import type { Source, SourceListener } from './source.js';
import { ZookeeperSession } from './zookeeper-session.js';

type ZkError = Error | zookeeper.Exception | null;

export class ZookeeperSource implements Source {
  readonly description: string;
  private session: ZookeeperSession | null = null;
  private listener: SourceListener | null = null;
  /** Child name → its parsed data, for children whose data watch is armed. */
  private readonly entries = new Map<string, ParsedEntry>();
  /**
   * The watcher of the child watch we believe armed on the server, or null. Set before the
   * getChildren that arms it is sent and cleared by that watcher itself: the client may deliver
   * the reply and the watch event in one socket read, firing the watcher before our code after
   * `await` runs, so "armed" must never be set after the fact (it would stay true with no watch
   * left on the server, and every later re-registration would go unseen).
   */
  private childWatch: (() => void) | null = null;
  private refreshing = false;
  private again = false;
  private erred = false;
  private readonly onConnected = (fresh: boolean) => {
    if (fresh) {
      this.entries.clear();
      this.childWatch = null;
    }
    this.refresh();
  };
  private readonly onDisconnected = (reason: string) => this.fail(new Error(reason));

  constructor(private readonly target: ZookeeperTarget) {
    this.description = zookeeperName(target);
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.session) return;
    this.listener = listener;
    const session = ZookeeperSession.acquire(this.target.hosts, this.target.sessionTimeout);
    this.session = session;
    session.on('connected', this.onConnected);
    session.on('disconnected', this.onDisconnected);
    if (session.connected) this.refresh();
  }

  async stop(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.session = null;
    this.listener = null;
    session.off('connected', this.onConnected);
    session.off('disconnected', this.onDisconnected);
    await session.release();
  }

  private fail(error: Error): void {
    if (this.erred || !this.listener) return;
    this.erred = true;
    this.listener.onError(error);
  }

  /** Re-reads what changed; calls during a refresh are folded into one more pass after it. */
  private refresh(): void {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = true;
    this.again = false;
    this.pass().then(
      (ok) => this.passDone(ok),
      (err: Error) => {
        this.fail(err);
        this.passDone(false);
      },
    );
  }

  private passDone(ok: boolean): void {
    this.refreshing = false;
    if (!this.session) return;
    if (this.again) this.refresh();
    else if (!ok && this.session.connected) setTimeout(() => this.session?.connected && this.refresh(), 500).unref();
  }

  /** One listing; resolves false when it could not complete (it is retried on the next event). */
  private async pass(): Promise<boolean> {
    const session = this.session;
    if (!session?.connected) return false;
    const client = session.client;
    const path = this.target.path;
    const children = await this.listChildren(session, path);
    if (children === null) {
      // No such znode: the registry holds no endpoints; an exists watch tells us when it appears.
      const appeared = Boolean(await session.call<zookeeper.Stat | null>((c, cb) => c.exists(path, () => this.refresh(), cb)));
      if (appeared) return this.pass();
      this.entries.clear();
      return this.emit();
    }
    const present = new Set(children);
    for (const name of this.entries.keys()) if (!present.has(name)) this.entries.delete(name);
    const missing = children.filter((name) => !this.entries.has(name));
    await Promise.all(missing.map((name) => this.fetchChild(session, name)));
    if (this.session !== session || client !== session.client) return false;
    return this.emit();
  }

  private emit(): boolean {
    if (!this.listener || this.again) return true;
    const { endpoints, problems } = collectEntries([...this.entries].sort(([a], [b]) => (a < b ? -1 : 1)));
    this.erred = false;
    this.listener.onEndpoints(endpoints, problems);
    return true;
  }

  private async listChildren(session: ZookeeperSession, path: string): Promise<string[] | null> {
    let watcher: (() => void) | undefined;
    if (this.childWatch === null) {
      const armed = () => {
        if (this.childWatch === armed) this.childWatch = null;
        this.refresh();
      };
      this.childWatch = watcher = armed;
    }
    try {
      return await session.call<string[]>((c, cb) => (watcher ? c.getChildren(path, watcher, cb) : c.getChildren(path, cb)));
    } catch (err) {
      // Not armed (or not known to be): arm one on the next listing. At worst two watchers fire.
      if (watcher && this.childWatch === watcher) this.childWatch = null;
      if (isCode(err as ZkError, zookeeper.Exception.NO_NODE)) return null;
      throw asError(err as ZkError);
    }
  }

  /**
   * Reads one child's data and arms its data watch; a child deleted meanwhile is just skipped.
   * A watch that fires before the read's continuation runs (same socket read as the reply) means
   * the data is already stale: it is not kept, and the pass that the watcher asked for reads it again.
   */
  private async fetchChild(session: ZookeeperSession, name: string): Promise<void> {
    let fired = false;
    const watcher = () => {
      fired = true;
      this.entries.delete(name);
      this.refresh();
    };
    try {
      const data = await session.call<Buffer>((c, cb) => c.getData(`${this.target.path}/${name}`, watcher, cb));
      if (!fired) this.entries.set(name, parseChild(name, data));
    } catch (err) {
      if (!isCode(err as ZkError, zookeeper.Exception.NO_NODE)) throw asError(err as ZkError);
    }
  }
}

function isCode(err: ZkError, code: number): boolean {
  return typeof (err as zookeeper.Exception | null)?.getCode === 'function' && (err as zookeeper.Exception).getCode() === code;
}

function asError(err: ZkError): Error {
  return err instanceof Error ? err : new Error(`zookeeper: ${String(err)}`);
}
