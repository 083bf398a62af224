// How a worker of a replaced generation lets go of its connections without costing a client
// anything. HTTP keep-alive connections are the delicate ones: closing an idle one races with
// the client sending its next request on it (the client sees a reset). So an idle one (no
// request in flight, no bytes read into Node's buffers or parser) is handed, socket and all, to
// the new generation; a busy one gets `Connection: close` on its response and ends right after
// it. Tunnels (tcp-mode and upgraded WebSocket connections) move to the next generation
// (tunnel-move.ts); one that cannot (a peer that does not read; TLS) carries on until it ends or
// the drain timeout.
// Most HTTP connections are on hitless's own HTTP/1.1 path, which says itself whether it is idle;
// only those node:http took over are judged from node:http's internals.
import { Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { rawConnectionOf } from '../dataplane/builtin/http/raw-client.js';
import { secureSocketOf } from '../dataplane/builtin/tls/tls-termination.js';
import { Tunnel, tunnelOf } from '../dataplane/builtin/tunnel.js';
import type { TunnelMover } from './tunnel-move.js';
import { closeAfterResponse, freezeSocket, hasHandle, httpParserIdle, pendingResponse, serverOf, type NativeTcpHandle } from '../util/node-internals.js';

/** Hands one idle connection over to another process (accepted on `key`). */
export type HandOver = (socket: Socket, key: string) => void;

export interface DrainResult {
  readonly handedOver: number;
  /** Tunnels moved to the next generation, and those that stayed (drained here). */
  readonly moved: number;
  readonly stayed: number;
  readonly closedAtTimeout: number;
}

const SCAN_MS = 20;
const CLOSE_GRACE_MS = 1_000;

export class ConnectionDrain {
  private deadline: number;
  private handedOver = 0;
  /** Connections still open at the deadline: ended then, destroyed after a grace. */
  private closing = 0;
  private readonly marked = new Set<HttpServer>();
  /** Tunnels the mover took and that are still here (queued, moving, or staying): not looked at again. */
  private readonly offered = new Set<Socket | Tunnel>();
  readonly done: Promise<DrainResult>;

  constructor(
    /** Accepted sockets, and tunnels moved here (each its own key: it may have no socket yet). */
    private readonly connections: Map<Socket | Tunnel, string>,
    timeoutMs: number,
    private readonly handOver: HandOver | null,
    /** Moves tunnels to the next generation (null: they drain here, as at shutdown). */
    private readonly mover: TunnelMover | null = null,
    /** True while tunnels may still arrive (the predecessor's move channel is open): not done before. */
    private readonly moreComing: () => boolean = () => false,
  ) {
    this.deadline = Date.now() + timeoutMs;
    this.done = new Promise((resolve) => this.loop(resolve));
  }

  /** A newer upgrade shortens this drain (at most one draining generation at a time). */
  shorten(timeoutMs: number): void {
    if (this.closing === 0) this.deadline = Math.min(this.deadline, Date.now() + timeoutMs);
  }

  private loop(resolve: (r: DrainResult) => void): void {
    this.scan();
    // Done once nothing is left here, nothing is still on its way here, and every tunnel sent on
    // has been taken (a move channel's writer must not close before its reader has read all).
    if (this.connections.size === 0 && !this.moreComing() && (this.mover?.pending ?? 0) === 0) return resolve(this.result());
    if (Date.now() >= this.deadline && this.closing === 0 && (this.mover?.pending ?? 0) > 0) {
      // Tunnels being moved finish first (each within QUIESCE_MS): a frozen one is never cut.
    } else if (Date.now() >= this.deadline && this.closing === 0) {
      // End (FIN) rather than destroy: a destroy with unread bytes in the kernel sends a reset.
      this.closing = this.connections.size;
      // A TLS connection ends with its close_notify, then the FIN.
      for (const connection of this.connections.keys()) (connection instanceof Tunnel ? connection : (secureSocketOf(connection) ?? connection)).end();
      this.deadline = Date.now() + CLOSE_GRACE_MS;
    } else if (Date.now() >= this.deadline) {
      for (const connection of this.connections.keys()) connection.destroy();
      this.connections.clear();
      return resolve(this.result());
    }
    setTimeout(() => this.loop(resolve), SCAN_MS);
  }

  private result(): DrainResult {
    return { handedOver: this.handedOver, moved: this.mover?.moved ?? 0, stayed: this.mover?.stayed ?? 0, closedAtTimeout: this.closing };
  }

  private scan(): void {
    for (const [connection, key] of this.connections) {
      // A tunnel moves (one still connecting to its endpoint is not one yet: it moves at a later
      // scan, once connected); one that could not stays, and ends here or at the deadline.
      // Tunnels already waiting for their move are not looked at again (10,000 of them, every
      // SCAN_MS, were a tenth of a draining worker's CPU).
      if (this.offered.has(connection)) continue;
      if (connection instanceof Tunnel) {
        this.offer(connection, connection, key);
        continue;
      }
      const socket = connection;
      const tunnel = tunnelOf(socket);
      if (tunnel !== undefined) {
        this.offer(socket, tunnel, key);
        continue;
      }
      // A TLS connection's session lives in this process and cannot move: never handed over, it
      // is served here and its next response closes it (an idle one ends at the drain timeout).
      const secure = secureSocketOf(socket);
      const s = secure ?? socket;
      // The raw HTTP path says itself whether it is idle; node:http's connections are judged
      // from its internals (and its server marked so that later requests close).
      const raw = rawConnectionOf(s);
      if (raw === undefined) this.markServer(s);
      if (this.handOver && !secure && (raw !== undefined ? raw.idle : isIdleHttp(s))) {
        raw?.release();
        this.connections.delete(socket);
        this.handedOver++;
        this.handOver(socket, key);
        continue;
      }
      // A response not yet started is the last one on its connection.
      if (raw !== undefined) raw.closeAfterCurrent(false);
      else {
        const res = pendingResponse(s);
        if (res && !res.headersSent) closeAfterResponse(res);
      }
    }
  }

  /**
   * Once the mover took a tunnel, it decides (one that stays is never offered again, by it
   * either); one that moved is forgotten here altogether.
   */
  private offer(connection: Socket | Tunnel, tunnel: Tunnel, key: string): void {
    const forget = (moved: boolean): void => {
      if (!moved) return;
      this.connections.delete(connection);
      this.offered.delete(connection);
    };
    if (this.mover && this.closing === 0 && this.mover.offer(tunnel, key, forget)) this.offered.add(connection);
  }

  /** Every later request on a connection of this worker is answered with `Connection: close`. */
  private markServer(socket: Socket): void {
    const server = serverOf(socket);
    if (!(server instanceof HttpServer) || this.marked.has(server)) return;
    this.marked.add(server);
    server.prependListener('request', (_req, res: ServerResponse) => closeAfterResponse(res));
  }
}

/**
 * Idle means safe to move: an HTTP parser between requests (or one that never read a byte),
 * no response in progress, nothing buffered either way. Bytes that arrive later stay in the
 * kernel and travel with the file descriptor.
 */
export function isIdleHttp(socket: Socket): boolean {
  if (socket.destroyed || !hasHandle(socket) || pendingResponse(socket)) return false;
  if (socket.readableLength > 0 || socket.writableLength > 0 || socket.connecting) return false;
  return httpParserIdle(socket) === true;
}

/** Stops libuv reading so that no byte is consumed here between the check and the send. */
export function freezeForHandover(socket: Socket): NativeTcpHandle | null {
  const handle = freezeSocket(socket);
  if (handle) socket.setTimeout(0);
  return handle;
}
