// Keep-alive connections to one endpoint, kept with the endpoint's identity (EndpointState) across
// applies, so pooled connections to endpoints survive config changes too. The connect timeout is
// read at each connect, so a change of timeouts.connect needs no new pool.
import type { EndpointState } from '../../endpoint-state.js';
import type { BalancerEndpoint } from '../../balancers/balancer.js';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.js';

/**
 * Idle pooled connections are dropped after this, below the 5 s keep-alive default of Node and
 * nginx backends, so we rarely reuse a connection the endpoint is about to close.
 */
const KEEP_ALIVE_MS = 4_000;
/** Idle connections kept per endpoint beyond this are closed (busy ones are not limited). */
const MAX_IDLE = 512;

export class EndpointPool implements ConnectionOwner {
  /** Most recently used last: reuse the warmest connection, let the coldest expire. */
  private readonly idle: UpstreamConnection[] = [];
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    public connectTimeout: number,
  ) {}

  /**
   * The most recently used idle connection that is ready, or a new one (fresh: always new, after
   * a stale one failed). Connections still settling (just released) stay in the pool for later;
   * closed ones are dropped as they are met.
   */
  acquire(fresh = false): UpstreamConnection {
    if (!fresh) {
      const idle = this.idle;
      for (let i = idle.length - 1; i >= 0; i--) {
        const pooled = idle[i];
        if (pooled.ready) {
          idle.splice(i, 1);
          return pooled;
        }
        if (!pooled.open) idle.splice(i, 1);
      }
    }
    return new UpstreamConnection(this.host, this.port, this, this.connectTimeout);
  }

  release(conn: UpstreamConnection): void {
    if (this.closed || this.idle.length >= MAX_IDLE) return conn.close();
    conn.parkIdle(KEEP_ALIVE_MS);
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    const i = this.idle.lastIndexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  /** Graceful: idle connections close now, busy ones when their exchange ends. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.close();
  }
}

const pools = new WeakMap<EndpointState, EndpointPool>();

export function poolFor(endpoint: BalancerEndpoint, connectTimeout: number): EndpointPool {
  const state = endpoint.state;
  let pool = pools.get(state);
  if (pool !== undefined) {
    pool.connectTimeout = connectTimeout;
    return pool;
  }
  pool = new EndpointPool(endpoint.host, endpoint.port, connectTimeout);
  pools.set(state, pool);
  state.resources.push({ close: () => closePool(state) });
  return pool;
}

function closePool(state: EndpointState): void {
  pools.get(state)?.close();
  pools.delete(state);
}
