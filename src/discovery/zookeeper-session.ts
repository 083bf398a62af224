// One ZooKeeper session per ensemble, shared by every source (and registration) that uses it:
// 500 services watched through one connection, not 500 sessions. The session survives
// reconnects (the client re-arms watches); when it expires a new client and session replace it,
// and users are told so they re-create their watches and ephemeral nodes.
import { EventEmitter } from 'node:events';
import zookeeper from 'node-zookeeper-client';

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
  private stalledSince = Date.now();
  private readonly watchdog: NodeJS.Timeout;

  private constructor(
    readonly hosts: string,
    readonly sessionTimeout: number,
  ) {
    super();
    this.setMaxListeners(0);
    this.client = this.open();
    // node-zookeeper-client stops its connect timer once TCP connects; a server that accepts but
    // never answers the handshake (one still starting up) would hold it forever. Unstick it.
    this.watchdog = setInterval(() => {
      if (this.connected || Date.now() - this.stalledSince < STALL_MS) return;
      this.stalledSince = Date.now();
      internals(this.client).socket?.destroy();
    }, 500);
    this.watchdog.unref();
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
        reject(new Error(`zookeeper ${this.hosts}: no answer within ${ms} ms; reconnecting`));
        if (client === this.client && this.connected) internals(client).socket?.destroy();
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
        this.connected = true;
        const fresh = this.fresh;
        this.fresh = false;
        this.emit('connected', fresh);
      } else if (state === zookeeper.State.DISCONNECTED) {
        this.connected = false;
        this.emit('disconnected', `disconnected from zookeeper ${this.hosts}`);
      } else if (state === zookeeper.State.EXPIRED) {
        // The old client never reconnects once expired; a new one gets a new session.
        this.connected = false;
        this.emit('disconnected', `zookeeper session expired (${this.hosts}); opening a new session`);
        void closeClient(client);
        this.client = this.open();
      }
    });
    client.connect();
    return client;
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
  socket?: import('node:net').Socket;
  connectTimeoutHandler?: NodeJS.Timeout | null;
}
