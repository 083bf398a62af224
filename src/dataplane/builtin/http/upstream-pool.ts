// One undici Pool per endpoint identity, kept across applies with the endpoint's state, so
// pooled keep-alive connections to endpoints survive config changes too — a change of
// timeouts.connect included: the pool's connector reads the timeout in effect at each connect.
import { Pool, buildConnector } from 'undici';
import type { EndpointState } from '../../endpoint-state.js';
import type { BalancerEndpoint } from '../../balancers/balancer.js';

interface PoolEntry {
  readonly pool: Pool;
  connectTimeout: number;
}

const pools = new WeakMap<EndpointState, PoolEntry>();

/** One connector per distinct connect timeout (a handful per process). */
const connectors = new Map<number, buildConnector.connector>();
function connectorFor(timeout: number): buildConnector.connector {
  let c = connectors.get(timeout);
  if (!c) connectors.set(timeout, (c = buildConnector({ timeout })));
  return c;
}

/**
 * Idle pooled connections are dropped after this, below the 5 s keep-alive default of Node and
 * nginx backends, so we rarely reuse a connection the endpoint is about to close.
 */
const KEEP_ALIVE_MS = 4_000;

export function poolFor(endpoint: BalancerEndpoint, connectTimeout: number): Pool {
  const state = endpoint.state;
  const entry = pools.get(state);
  if (entry) {
    entry.connectTimeout = connectTimeout;
    return entry.pool;
  }
  const created: PoolEntry = {
    connectTimeout,
    pool: new Pool(`http://${endpoint.key}`, {
      connect: (options, callback) => connectorFor(created.connectTimeout)(options, callback),
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: 60_000,
      pipelining: 1,
      // Our own timeouts are set per request; the pool's defaults must never cut a streaming body.
      headersTimeout: 0,
      bodyTimeout: 0,
    }),
  };
  pools.set(state, created);
  state.resources.push({ close: () => closePool(state) });
  return created.pool;
}

/** Graceful: in-flight requests finish, then the pool's connections close. */
function closePool(state: EndpointState): Promise<void> {
  const entry = pools.get(state);
  pools.delete(state);
  return entry ? entry.pool.close().catch(() => {}) : Promise.resolve();
}
