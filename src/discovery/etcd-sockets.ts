// Every TCP connection the gRPC library (@grpc/grpc-js, under etcd3) opens to one etcd member,
// known to hitless so that hitless can end them itself. Closing a member's gRPC channels is not
// enough when the member hangs (SIGSTOP, a wedged host: its kernel still accepts connections and
// acknowledges bytes, the process answers nothing):
// - a connection still waiting for the member's first HTTP/2 SETTINGS frame is never given up by
//   grpc-js: it has no connect deadline, and closing the channel leaves the attempt running
//   (grpc/grpc-node#2785). Measured: a connection dialled to a frozen member stayed ESTABLISHED
//   for as long as the member stayed frozen, after every channel and the client were closed;
// - an established one is closed gracefully (GOAWAY, then FIN once its streams end): the socket
//   stays open, half-closed, until the hung member answers.
// So the connections are reset (RST) instead: at once when hitless gives the member up
// (EtcdClient, through EtcdMembers.onFailed). A channel that was still connecting when it was
// closed lingers for a second (etcd3 waits for it to settle) and dials again: a new connection to
// a member that is not to be used (`admitted`: given up, and another member in use) is reset as it
// opens. What is left, a connection whose subchannel grpc-js drops, is reset then (its pool
// sweeps unused subchannels every 10 s).
//
// The hook is the channel credentials' per-subchannel connector, which grpc-js hands every new
// TCP socket (`_createSecureConnector` in grpc-js 1.14, as locked; underscored, but the one place where
// sockets pass): a wrapper records the socket, then lets the real credentials (plain or TLS) go on.
import type { Socket } from 'node:net';

/** What grpc-js asks of a subchannel's connector (channel-credentials.ts, SecureConnector). */
interface SecureConnector {
  connect(socket: Socket): Promise<unknown>;
  waitForReady(): Promise<void>;
  getCallCredentials(): unknown;
  destroy(): void;
}

/** The part of grpc-js's ChannelCredentials this wraps. */
interface Credentials {
  _createSecureConnector?: (...args: unknown[]) => SecureConnector;
  _equals(other: unknown): boolean;
}

export class MemberSockets {
  private readonly open = new Set<Socket>();

  /** `admitted`: whether calls may go to the member now (EtcdMembers.admits). */
  constructor(private readonly admitted: () => boolean) {}

  /**
   * Credentials that behave as `credentials` and record every socket opened with them. The
   * result is its own pool key: grpc-js shares a subchannel (one connection) only between
   * channels given the same credentials object, i.e. one member's services in one client.
   */
  wrap<T extends object>(credentials: T): T {
    const inner = credentials as unknown as Credentials;
    const create = inner._createSecureConnector;
    if (typeof create !== 'function') {
      throw new Error('this @grpc/grpc-js has no ChannelCredentials._createSecureConnector: hitless cannot bound its etcd connections; install the version in package-lock.json (1.14)');
    }
    const wrapped = Object.create(credentials) as Credentials;
    wrapped._createSecureConnector = (...args: unknown[]) => this.connector(create.apply(inner, args));
    wrapped._equals = (other: unknown) => other === wrapped;
    return wrapped as unknown as T;
  }

  /** Resets every connection to the member; returns how many there were. */
  reset(): number {
    const sockets = [...this.open];
    this.open.clear();
    for (const socket of sockets) resetSocket(socket);
    return sockets.length;
  }

  /** One subchannel's connector: its sockets are recorded, and reset when grpc-js drops it. */
  private connector(inner: SecureConnector): SecureConnector {
    const mine = new Set<Socket>();
    return {
      connect: (socket) => {
        if (!this.admitted()) {
          resetSocket(socket);
          return Promise.reject(new Error('not dialled: hitless gave this etcd member up and uses another'));
        }
        this.open.add(socket);
        mine.add(socket);
        socket.once('close', () => {
          this.open.delete(socket);
          mine.delete(socket);
        });
        return inner.connect(socket);
      },
      waitForReady: () => inner.waitForReady(),
      getCallCredentials: () => inner.getCallCredentials(),
      destroy: () => {
        inner.destroy();
        for (const socket of mine) {
          this.open.delete(socket);
          resetSocket(socket);
        }
        mine.clear();
      },
    };
  }
}

/** RST rather than FIN: a hung peer never completes a graceful close. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy(); // not a TCP handle (cannot happen for grpc-js's net.connect sockets)
  }
}
