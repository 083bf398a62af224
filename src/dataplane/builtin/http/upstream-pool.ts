// Keep-alive connections to one endpoint, held by the endpoint's identity (EndpointState.pool)
// across applies, so pooled connections to endpoints survive config changes too. The connect
// timeout is read at each connect, so a change of timeouts.connect needs no new pool. A pool holds
// connections of one TLS setting (upstream_tls, by digest): another setting (a rotated client
// certificate, a new CA) gets a new pool, and the old one closes as its requests finish, so a
// connection made with old settings never carries a request of the new ones.
import type { UpstreamTlsConfig } from '../../../config/tls-model.js';
import type { UpstreamTlsCounters } from '../tls/upstream-tls.js';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.js';
import { currentTurn } from './loop-turn.js';

/**
 * Idle pooled connections are dropped after this, below the 5 s keep-alive default of Node and
 * nginx backends, so we rarely reuse a connection the endpoint is about to close.
 */
const KEEP_ALIVE_MS = 4_000;
/** Idle connections kept per endpoint beyond this are closed (busy ones are not limited). */
const MAX_IDLE = 512;

export class EndpointPool implements ConnectionOwner {
  /** Idle since an earlier loop turn; most recently used last: reuse the warmest, let the coldest expire. */
  private readonly idle: UpstreamConnection[] = [];
  /**
   * Released in turn `settlingTurn`: not reused in that turn (loop-turn.ts), then moved to `idle`.
   * Kept apart so that taking a connection is O(1) however many were released this turn.
   */
  private readonly settling: UpstreamConnection[] = [];
  private settlingTurn = -1;
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    public connectTimeout: number,
    readonly tls: UpstreamTlsConfig | null = null,
    private readonly tlsCounters: UpstreamTlsCounters | null = null,
  ) {}

  /**
   * The most recently used idle connection that is ready, or a new one (fresh: always new, after
   * a stale one failed). Connections still settling (released this turn) wait for a later turn;
   * closed ones are dropped as they are met.
   */
  acquire(fresh = false): UpstreamConnection {
    if (!fresh) {
      this.settle();
      const idle = this.idle;
      for (let pooled = idle.pop(); pooled !== undefined; pooled = idle.pop()) {
        if (pooled.ready) return pooled;
        // Not ready: closed (an error not yet handled), or, which settle() rules out, settling.
        if (pooled.open) {
          idle.push(pooled);
          break;
        }
      }
    }
    return new UpstreamConnection(this.host, this.port, this, this.connectTimeout, this.tls, this.tlsCounters);
  }

  release(conn: UpstreamConnection): void {
    if (this.closed || this.idle.length + this.settling.length >= MAX_IDLE) return conn.close();
    conn.parkIdle(KEEP_ALIVE_MS);
    this.settle();
    this.settling.push(conn);
    this.settlingTurn = currentTurn();
  }

  forget(conn: UpstreamConnection): void {
    if (!remove(this.idle, conn)) remove(this.settling, conn);
  }

  /** Graceful: idle connections close now, busy ones when their exchange ends. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.close();
    for (const conn of this.settling.splice(0)) conn.close();
  }

  /** Connections released in an earlier turn are ready: they join `idle`, in release order. */
  private settle(): void {
    const settling = this.settling;
    if (settling.length === 0 || this.settlingTurn === currentTurn()) return;
    for (let i = 0; i < settling.length; i++) this.idle.push(settling[i]);
    settling.length = 0;
  }
}

function remove(list: UpstreamConnection[], conn: UpstreamConnection): boolean {
  const i = list.lastIndexOf(conn);
  if (i === -1) return false;
  list.splice(i, 1);
  return true;
}

/**
 * What poolFor needs of a balancer endpoint: its address and the state that holds its pool
 * (EndpointState, which closes the pool when the endpoint is forgotten). Structural, so that this
 * file and endpoint-state.ts do not import each other.
 */
export interface PooledEndpoint {
  readonly host: string;
  readonly port: number;
  readonly state: { pool: EndpointPool | null };
}

/** The endpoint's pool, made at its first request, and made again when the TLS settings differ. */
export function poolFor(endpoint: PooledEndpoint, connectTimeout: number, tls: UpstreamTlsConfig | null = null, tlsCounters: UpstreamTlsCounters | null = null): EndpointPool {
  const state = endpoint.state;
  const pool = state.pool;
  if (pool !== null) {
    if (pool.tls === tls || (pool.tls !== null && tls !== null && pool.tls.digest === tls.digest)) {
      pool.connectTimeout = connectTimeout;
      return pool;
    }
    // Graceful: idle connections close now, busy ones when their exchange ends.
    pool.close();
  }
  return (state.pool = new EndpointPool(endpoint.host, endpoint.port, connectTimeout, tls, tlsCounters));
}
