// An open client connection, as the tables that hold them see it (a listener's, a service's, a
// worker's): an accepted net.Socket, or a tunnel moved here from another process, which may have
// no socket yet (builtin/tunnel.ts: its sockets are built when a peer first sends something).
// Those tables count it, close it (a drain's deadline, a removed listener or service) and hear
// its end; nothing else.
export interface OpenConnection {
  readonly destroyed: boolean;
  /** Gracefully: a FIN to the client. */
  end(): void;
  destroy(): void;
  /** Emitted once, when the connection has closed in this process (not when it moves away). */
  on(event: 'close', listener: () => void): this;
  once(event: 'close', listener: () => void): this;
}
