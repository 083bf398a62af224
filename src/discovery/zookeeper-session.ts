// One ZooKeeper session per ensemble, shared by every source (and registration) that uses it:
// 500 services watched through one connection, not 500 sessions. The session survives
// reconnects (the client re-arms watches); when it expires a new client and session replace it,
// and users are told so they re-create their watches and ephemeral nodes.
//
// A member that stops answering is given up after the read timeout (2/3 of the negotiated
// session timeout, as the Java client does; see zookeeper-read-timeout.ts) and the client moves
// to the next member of the connect string, within the same session: the session survives as
// long as another member is reached before the session timeout runs out.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';
import { ReadTimeout } from './zookeeper-read-timeout.js';

type Client = zookeeper.Client;

export interface ZookeeperSessionEvents {
  /** Connected; `fresh` is true for a new session (every watch and ephemeral node is gone). */
  connected: [fresh: boolean];
  disconnected: [reason: string];
}

const sessions = new Map<string, ZookeeperSession>();

export class ZookeeperSession extends EventEmitter<ZookeeperSessionEvents> {
  private refs = 0;
  private fresh = true;
  private closed = false;
  client: Client;
  connected = false;
  /** The member the connection goes (or last went) to, e.g. "127.0.0.1:2181". */
  private connectedTo: string | null = null;
  private stalledSince = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private readonly reads = new ReadTimeout((silentMs, timeoutMs) =>
    this.dropConnection(`zookeeper member ${this.member()} sent nothing for ${silentMs} ms (read timeout ${timeoutMs} ms, 2/3 of the session timeout); moving to another member of ${this.hosts}`),
  );

  private constructor(
    readonly hosts: string,
    readonly sessionTimeout: number,
  ) {
    super();
    this.setMaxListeners(0);
    this.client = this.open();
    // node-zookeeper-client stops its connect timer once TCP connects; a server that accepts but
    // never answers the handshake (one still starting up, or hung: the kernel completes the TCP
    // handshake of a stopped process) would hold it forever. Unstick it after the Java client's
    // connect timeout (the session timeout shared among the members), at most STALL_MS.
    const members = hosts.split(',').length;
    const stallMs = Math.min(STALL_MS, Math.max(1_000, Math.floor(sessionTimeout / members)));
    this.watchdog = setInterval(() => {
      if (this.connected || Date.now() - this.stalledSince < stallMs) return;
      this.stalledSince = Date.now();
      internals(this.client).socket?.destroy();
    }, 250);
    this.watchdog.unref();
  }

  /**
   * Connected to a member that was heard from within the read timeout, as of now: what this
   * session says is current, and the session cannot have expired (the ensemble expires it a
   * whole session timeout after the last packet the member saw, a third more than the read
   * timeout after we last heard from it).
   */
  get live(): boolean {
    return this.connected && this.reads.fresh;
  }

  /** The shared session for these hosts and timeout; release() it when done. */
  static acquire(hosts: readonly string[], sessionTimeout: number): ZookeeperSession {
    const key = `${hosts.join(',')}|${sessionTimeout}`;
    let session = sessions.get(key);
    if (!session) sessions.set(key, (session = new ZookeeperSession(hosts.join(','), sessionTimeout)));
    session.refs++;
    return session;
  }

  release(): Promise<void> {
    if (--this.refs > 0) return Promise.resolve();
    sessions.delete(`${this.hosts}|${this.sessionTimeout}`);
    this.closed = true;
    clearInterval(this.watchdog);
    this.reads.unwatch();
    return closeClient(this.client);
  }

  /**
   * One request with a deadline. node-zookeeper-client can lose a callback (it drops the request
   * it was matching when a reply arrives out of order, then reconnects), which would stall its
   * caller forever; on timeout the caller gets an error and the connection is dropped, so the
   * client reconnects with the same session and re-arms the watches.
   */
  call<T>(run: (client: Client, callback: (err: Error | zookeeper.Exception | null, value: T) => void) => void): Promise<T> {
    const client = this.client;
    const ms = Math.max(2_000, this.sessionTimeout);
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        const reason = `zookeeper member ${this.member()}: no answer within ${ms} ms; reconnecting`;
        reject(new Error(reason));
        if (client === this.client && this.connected) this.dropConnection(reason);
      }, ms);
      run(client, (err, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      });
    });
  }

  private open(): Client {
    // spinDelay: a restarted server is found within ~250 ms rather than the default second.
    const client = zookeeper.createClient(this.hosts, { sessionTimeout: this.sessionTimeout, spinDelay: 250, retries: 0 });
    this.fresh = true;
    client.on('state', (state) => {
      if (client !== this.client || this.closed) return;
      this.stalledSince = Date.now();
      if (state === zookeeper.State.SYNC_CONNECTED) {
        // Emitted while the connect response is handled, so the socket is the one it came on.
        const manager = internals(client);
        if (manager.socket) {
          this.connectedTo = `${manager.socket.remoteAddress}:${manager.socket.remotePort}`;
          this.reads.watch(manager.socket, Math.floor((manager.sessionTimeout * 2) / 3));
        }
        this.connected = true;
        const fresh = this.fresh;
        this.fresh = false;
        this.emit('connected', fresh);
      } else if (state === zookeeper.State.DISCONNECTED) {
        this.lost(`disconnected from zookeeper member ${this.member()}`);
      } else if (state === zookeeper.State.EXPIRED) {
        // The old client never reconnects once expired; a new one gets a new session.
        this.lost(null);
        this.emit('disconnected', `zookeeper session expired (${this.hosts}); opening a new session`);
        void closeClient(client);
        this.client = this.open();
      }
    });
    client.connect();
    return client;
  }

  /**
   * Gives up the current connection (`reason` says why); the library then connects to the next
   * member of its connect string with the same session id, which keeps the session if a member
   * is reached before it expires. Users hear `disconnected` with the reason at once, before the
   * requests in flight fail with a bare CONNECTION_LOSS.
   */
  private dropConnection(reason: string): void {
    const socket = internals(this.client).socket;
    this.lost(reason);
    socket?.destroy();
  }

  /** Connected → not connected, told once per connection (`reason` null: tell nobody). */
  private lost(reason: string | null): void {
    this.reads.unwatch();
    if (!this.connected) return;
    this.connected = false;
    if (reason !== null) this.emit('disconnected', reason);
  }

  private member(): string {
    return this.connectedTo ?? this.hosts;
  }
}

/**
 * Closes a client whatever its state. node-zookeeper-client only closes a connected session
 * cleanly; a disconnected one would keep reconnecting forever (and keep the process alive), so
 * its connection manager is told it is closing and its socket is destroyed.
 */
export function closeClient(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const manager = internals(client);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const force = () => {
      manager.state = CLOSING;
      if (manager.connectTimeoutHandler) clearTimeout(manager.connectTimeoutHandler);
      manager.socket?.destroy();
      done();
    };
    const timer = setTimeout(force, 1_000);
    if (client.getState() !== zookeeper.State.SYNC_CONNECTED) return force();
    manager.socket?.once('close', done);
    client.close();
  });
}

/** How long a connection attempt may go without any progress before it is abandoned and retried. */
const STALL_MS = 3_000;

/** ConnectionManager.STATES.CLOSING in node-zookeeper-client 1.x. */
const CLOSING = -1;

function internals(client: Client): ManagerInternals {
  return (client as unknown as { connectionManager: ManagerInternals }).connectionManager;
}

interface ManagerInternals {
  state: number;
  socket?: Socket;
  connectTimeoutHandler?: NodeJS.Timeout | null;
  /** The negotiated session timeout once connected (the requested one before). */
  sessionTimeout: number;
}
