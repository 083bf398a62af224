// The one thing etcd-watch.ts (and the lease keeper) need of the etcd client: bidirectional gRPC
// streams opened on a chosen member, and a way to report that member as failed. An interface of
// its own so that the client (which owns a WatchHub) and the watch do not import each other.
import type { IRequestStream, IResponseStream } from 'etcd3';
import type { Host } from 'etcd3/lib/connection-pool.js';
import type { EtcdMember } from './etcd-members.js';

export interface MemberStream<Req, Res> {
  readonly call: IRequestStream<Req> & IResponseStream<Res> & { removeAllListeners(event: string): unknown };
  readonly member: EtcdMember;
  readonly host: Host;
}

export interface StreamOpener {
  openStream<Req, Res>(service: 'Watch' | 'Lease', method: 'watch' | 'leaseKeepAlive'): Promise<MemberStream<Req, Res>>;
  /** `stream`'s member failed (silent, or lost its leader): avoid it. */
  memberFailed(stream: MemberStream<unknown, unknown>, error: Error): void;
}
