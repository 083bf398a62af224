// One etcd3 client per endpoint list, shared by sources and registrations: its watch manager
// multiplexes every watcher onto one gRPC stream. The library's default fault handling (a
// circuit breaker that stays open 5 s, watch backoff up to 30 s) would delay recovery after an
// outage far beyond our convergence goal, so both are replaced by short, bounded ones.
import { Etcd3, type IOptions } from 'etcd3';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = ReturnType<NonNullable<FaultHandling['host']>>;
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

const noDispose = { dispose: () => {} };

/** A policy that just runs the call: failures surface at once and the next call tries again. */
const passThrough = {
  onSuccess: () => noDispose,
  onFailure: () => noDispose,
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> =>
    fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

/** Watch reconnect delays: 100 ms doubling to at most 1 s. */
function backoff(duration = 100): Backoff {
  return { duration, next: () => backoff(Math.min(duration * 2, 1_000)) } as Backoff;
}

const clients = new Map<string, { client: Etcd3; refs: number }>();

/** Calls (not streams) give up after this long, so an unreachable etcd is reported, not waited on. */
export const ETCD_CALL_TIMEOUT = 3_000;

/** Our client options (short timeouts, no circuit breaker), also for tools and tests. */
export function etcdOptions(endpoints: readonly string[]): IOptions {
  return {
    hosts: [...endpoints],
    dialTimeout: 2_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT }),
    faultHandling: { host: () => passThrough, global: passThrough, watchBackoff: backoff() },
  };
}

export function acquireEtcd(endpoints: readonly string[]): Etcd3 {
  const key = endpoints.join(',');
  let entry = clients.get(key);
  if (!entry) {
    const client = new Etcd3(etcdOptions(endpoints));
    clients.set(key, (entry = { client, refs: 0 }));
  }
  entry.refs++;
  return entry.client;
}

export function releaseEtcd(client: Etcd3): void {
  for (const [key, entry] of clients) {
    if (entry.client !== client) continue;
    if (--entry.refs === 0) {
      clients.delete(key);
      client.close();
    }
    return;
  }
}
