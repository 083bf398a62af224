// One etcd3 client per endpoint list, shared by sources and registrations. It pins one member at
// a time (etcd-members.ts) and moves when that member fails; its watch streams (etcd-watch.ts) and
// lease keepalives (register/etcd-lease-keeper.ts) check that the member answers and tell it here.
//
// Time bounds, and why:
// - Calls (not streams) give up after ETCD_CALL_TIMEOUT, so an unreachable member is reported and
//   avoided, not waited on.
// - gRPC keepalive pings every 5 s (etcd refuses pings more often than its --grpc-keepalive-min-time,
//   5 s by default) and declares the connection dead 2 s after an unanswered one. Pings are sent
//   only while a call or stream is open: etcd's policy forbids pings on an idle connection and
//   closes it (GOAWAY "too_many_pings", measured with etcd 3.4 after three idle pings). This is
//   the transport's net, alongside the streams' own checks (progress requests, renewal answers):
//   whichever notices a frozen member first closes the stream.
// - A member given up on loses every connection of this client at once, reset rather than closed
//   gracefully (etcd-sockets.ts): a hung member never completes a graceful close nor, for a
//   connection dialled while it hung, the HTTP/2 handshake, and grpc-js bounds neither. Bound: no
//   connection to a member outlives the moment hitless gives it up, and none is opened to it
//   while another member is in use. One opened when every member had failed (calls go to any)
//   is reset when the call on it fails, or at the latest when grpc-js sweeps the unused
//   subchannel (10 s after its last channel closed).
// - The library's default fault handling (a circuit breaker open for 5 s, watch backoff up to 30 s)
//   is replaced: member choice is etcd-members.ts's, and retries are the callers' (short, bounded).
import { Etcd3, type IOptions } from 'etcd3';
import type { Host } from 'etcd3/lib/connection-pool.js';
import { EtcdMembers, MemberPolicy, type EtcdMember } from './etcd-members.js';
import { MemberSockets } from './etcd-sockets.js';
import type { MemberStream, StreamOpener } from './etcd-stream.js';
import { WatchHub } from './etcd-watch.js';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = ReturnType<NonNullable<FaultHandling['host']>>;
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

export const ETCD_CALL_TIMEOUT = 3_000;
const KEEPALIVE_TIME_MS = 5_000;
const KEEPALIVE_TIMEOUT_MS = 2_000;

/** A policy that just runs the call: failures surface at once and the caller decides when to retry. */
const passThrough = {
  onSuccess: () => ({ dispose: () => {} }),
  onFailure: () => ({ dispose: () => {} }),
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> =>
    fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

/** Reconnect delays for the library's own watches (used by tools, not by hitless): 100 ms doubling to 1 s. */
function backoff(duration = 100): Backoff {
  return { duration, next: () => backoff(Math.min(duration * 2, 1_000)) } as Backoff;
}

/** Our client options (member pinning, short timeouts, gRPC keepalive), also for tools and tests. */
export function etcdOptions(endpoints: readonly string[], members = new EtcdMembers(endpoints)): IOptions {
  return {
    hosts: [...endpoints],
    dialTimeout: 2_000,
    grpcOptions: {
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 0,
    },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT }),
    faultHandling: { host: (url) => members.policyFor(url), global: passThrough, watchBackoff: backoff() },
  };
}

/** A bidirectional gRPC stream and the member it was opened on. */
export type { MemberStream } from './etcd-stream.js';

export class EtcdClient extends Etcd3 implements StreamOpener {
  readonly watches = new WatchHub(this);
  /** This client's connections, per member (the library opens them; we end them). */
  private readonly sockets = new Map<EtcdMember, MemberSockets>();
  private closed = false;

  constructor(
    endpoints: readonly string[],
    readonly members = new EtcdMembers(endpoints),
  ) {
    super(etcdOptions(endpoints, members));
    for (const host of this.hosts) {
      // Before any call: the library builds a host's gRPC clients from these credentials lazily.
      const member = memberOf(host);
      // A closed client dials nothing: etcd3 lets a channel that was connecting settle first.
      const sockets = this.sockets.get(member) ?? new MemberSockets(() => !this.closed && members.admits(member));
      this.sockets.set(member, sockets);
      const withCredentials = host as unknown as { channelCredentials: object };
      withCredentials.channelCredentials = sockets.wrap(withCredentials.channelCredentials);
    }
    // A member given up on, by a stream's check or by a failed call, loses this client's
    // connections at once: its channels are closed (calls on them fail, streams on them end) and
    // its sockets reset. Otherwise a call that timed out on a hung member left the connection
    // open (kernel-established, no call on it, so no keepalive ping to find it dead) for as long
    // as the member hung, while the pin had moved on.
    members.onFailed = (member) => {
      for (const host of this.hosts) if (memberOf(host) === member) host.resetAllServices();
      this.sockets.get(member)?.reset();
    };
  }

  private get hosts(): readonly Host[] {
    return (this.pool as unknown as { hosts: readonly Host[] }).hosts;
  }

  /**
   * Opens a stream (Watch.watch, Lease.leaseKeepAlive) on the member in use, with etcd's
   * require-leader metadata: a member without a leader refuses it, and cancels it once it has had
   * no leader for three election timeouts ("etcdserver: no leader"; about 4 s with etcd's default
   * 1 s timeout, measured), so a cut-off member cannot pass off a stale view.
   */
  openStream<Req, Res>(service: 'Watch' | 'Lease', method: 'watch' | 'leaseKeepAlive'): Promise<MemberStream<Req, Res>> {
    return this.pool.withConnection(service, ({ resource, client, metadata }) => {
      const withLeader = metadata.clone();
      withLeader.set('hasleader', 'true');
      const open = (client as unknown as Record<string, (m: typeof metadata) => MemberStream<Req, Res>['call']>)[method];
      const call = open.call(client, withLeader);
      return { call, member: memberOf(resource), host: resource };
    });
  }

  /**
   * `stream`'s member failed (silent, or lost its leader): avoid it, and close this client's
   * connection to it so that nothing waits on it any more.
   */
  memberFailed(stream: MemberStream<unknown, unknown>, error: Error): void {
    this.members.failed(stream.member, error); // closes the connection (onFailed, above)
  }

  override close(): void {
    this.closed = true;
    this.watches.close();
    super.close();
    // The library closes its channels gracefully; a hung member would keep those connections.
    for (const sockets of this.sockets.values()) sockets.reset();
  }
}

function memberOf(host: Host): EtcdMember {
  const policy: unknown = host.faultHandling;
  if (policy instanceof MemberPolicy) return policy.member;
  throw new Error('etcd client built without member policies');
}

const clients = new Map<string, { client: EtcdClient; refs: number }>();

export function acquireEtcd(endpoints: readonly string[]): EtcdClient {
  const key = endpoints.join(',');
  let entry = clients.get(key);
  if (!entry) {
    const client = new EtcdClient(endpoints);
    clients.set(key, (entry = { client, refs: 0 }));
  }
  entry.refs++;
  return entry.client;
}

export function releaseEtcd(client: EtcdClient): void {
  for (const [key, entry] of clients) {
    if (entry.client !== client) continue;
    if (--entry.refs === 0) {
      clients.delete(key);
      client.close();
    }
    return;
  }
}
