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

  private constructor(
    readonly hosts: string,
    readonly sessionTimeout: number,
  ) {
    super();
    this.setMaxListeners(0);
    this.client = this.open();
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
    return closeClient(this.client);
  }

  private open(): Client {
    // spinDelay: a restarted server is found within ~250 ms rather than the default second.
    const client = zookeeper.createClient(this.hosts, { sessionTimeout: this.sessionTimeout, spinDelay: 250, retries: 0 });
    this.fresh = true;
    client.on('state', (state) => {
      if (process.env.ZKDEBUG) console.error('zk state', this.hosts, String(state), client === this.client);
      if (client !== this.client || this.closed) return;
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
    const manager = (client as unknown as { connectionManager: ManagerInternals }).connectionManager;
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

/** ConnectionManager.STATES.CLOSING in node-zookeeper-client 1.x. */
const CLOSING = -1;

interface ManagerInternals {
  state: number;
  socket?: import('node:net').Socket;
  connectTimeoutHandler?: NodeJS.Timeout | null;
}
