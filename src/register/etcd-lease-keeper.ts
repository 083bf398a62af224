// Keeps one lease alive over a keepalive stream on the member in use, and moves to another member
// before the lease can run out. A renewal goes out every TTL/3 (as etcd's own client does); one
// unanswered for TTL/3 means its member is dead (frozen, partitioned, without a leader), and so
// does a stream that fails: the member is avoided, the stream dropped, and a renewal goes out at
// once on a new stream through another member. Further failures in a row (every member down)
// wait a little longer each time, up to TTL/3, and are reported once.
//
// Bound: after the last answered renewal (sent at s, so the lease lives until at least s + TTL),
// the next goes out by s + TTL/3 and, unanswered, is given up by s + 2·TTL/3: at least a third of
// the TTL is left for the new member to answer, so one hung member costs no registration gap.
import { GRPCDeadlineExceededError, castGrpcError, isRecoverableError, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse } from 'etcd3';
import type { EtcdClient, MemberStream } from '../discovery/etcd-client.js';

/** The wait before the second new stream in a row; it doubles for each further one, up to TTL/3. */
const FIRST_RETRY_DELAY_MS = 100;

export interface LeaseKeeperEvents {
  /** etcd renewed the lease: it certainly lives until `until` (epoch ms, our clock). */
  renewed(until: number): void;
  /** etcd no longer knows the lease (it expired, or was revoked): a new one is needed. */
  expired(): void;
  /** Renewals stopped working (first failure of a streak); the keeper carries on through another member. */
  trouble(error: Error): void;
}

type Stream = MemberStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export class LeaseKeeper {
  private stream: Stream | null = null;
  /** When the unanswered renewal was sent; null when none is outstanding. */
  private sentAt: number | null = null;
  /** Renewal interval, and how long one may stay unanswered: TTL/3. */
  private readonly period: number;
  private readonly timer: NodeJS.Timeout;
  private answerTimer: NodeJS.Timeout | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  /** Streams given up since the last answered renewal. */
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly client: EtcdClient,
    private readonly leaseId: string,
    ttlSeconds: number,
    private readonly events: LeaseKeeperEvents,
  ) {
    this.period = (ttlSeconds * 1_000) / 3;
    this.timer = setInterval(() => this.sentAt === null && this.renew(), this.period);
    this.timer.unref();
    this.open();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.drop();
  }

  /** A new keepalive stream on the member in use, with a renewal sent at once. */
  private open(): void {
    this.client.openStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>('Lease', 'leaseKeepAlive').then(
      (stream) => {
        if (this.stopped) return void discard(stream);
        this.stream = stream;
        stream.call.on('data', (res) => this.answered(res));
        stream.call.on('error', (err) => this.fail(castGrpcError(err)));
        stream.call.on('end', () => this.fail(new Error('the member ended the keepalive stream')));
        this.renew();
      },
      (err: Error) => this.fail(err),
    );
  }

  private renew(): void {
    const stream = this.stream;
    if (!stream) return;
    const sentAt = Date.now();
    this.sentAt = sentAt;
    this.answerTimer = setTimeout(() => {
      // Judged after the sockets were read: when this process was not running (a blocked event
      // loop, a stopped process), the answer may be waiting to be read.
      setImmediate(() => {
        if (this.sentAt === sentAt) this.fail(new GRPCDeadlineExceededError(`lease renewal unanswered for ${Date.now() - sentAt} ms`));
      });
    }, this.period);
    this.answerTimer.unref();
    stream.call.write({ ID: this.leaseId });
  }

  private answered(res: ILeaseKeepAliveResponse): void {
    const sentAt = this.sentAt;
    this.clearOutstanding();
    this.failures = 0;
    if (Number(res.TTL) <= 0) return this.events.expired();
    if (sentAt !== null) this.events.renewed(sentAt + Number(res.TTL) * 1_000);
  }

  /** The stream's member failed: avoid it (when it is to blame) and go on through another. */
  private fail(error: Error): void {
    if (this.stopped || this.reopenTimer) return;
    const stream = this.stream;
    this.drop();
    if (stream && isRecoverableError(error)) this.client.memberFailed(stream, error);
    if (this.failures === 0) this.events.trouble(new Error(`etcd ${stream?.member.url ?? '(no member)'}: ${error.message}`));
    const delay = this.failures === 0 ? 0 : Math.min(FIRST_RETRY_DELAY_MS * 2 ** (this.failures - 1), this.period);
    this.failures++;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      if (!this.stopped) this.open();
    }, delay);
    this.reopenTimer.unref();
  }

  private drop(): void {
    const stream = this.stream;
    this.stream = null;
    this.clearOutstanding();
    if (stream) discard(stream);
  }

  private clearOutstanding(): void {
    this.sentAt = null;
    if (this.answerTimer) clearTimeout(this.answerTimer);
    this.answerTimer = null;
  }
}

function discard(stream: Stream): void {
  for (const event of ['data', 'error', 'end']) stream.call.removeAllListeners(event);
  stream.call.on('error', () => {}); // the cancellation itself is reported as an error
  stream.call.cancel();
}
