// Every watch of one client rides one gRPC stream on the member in use (as etcd's own client
// does), and that stream proves it is alive: every PROGRESS_INTERVAL it asks etcd for a progress
// report, which etcd answers at once even when nothing changes. A stream that hears nothing at all
// for SILENCE_LIMIT (no event, no progress, no answer to a create) has a dead member behind it —
// frozen, or its connection half-open — and so does one that etcd ends with "no leader"
// (require-leader metadata, see EtcdClient.openStream). Either way the member is avoided,
// the stream dropped, and every watch on it told that it ended. Watches never resume on their own:
// their owner lists again through a healthy member and watches from that revision, which proves
// the view current rather than assuming it. Progress reports only prove life; their revision is
// not used (etcd 3.4 may send one ahead of events it is still replaying).
//
// Bound: a member that stops answering is declared dead SILENCE_LIMIT after the last message
// heard, i.e. at most SILENCE_LIMIT + PROGRESS_INTERVAL (4 s) after it froze; sooner when the
// connection's gRPC keepalive ping goes unanswered first (etcd-client.ts). A healthy member
// answers a progress request within milliseconds, so 3 s of silence is far beyond a busy machine's
// hiccup, and short enough that a change written meanwhile arrives a few seconds late, not never.
//
// Needs etcd >= 3.4 (watch IDs chosen by the client, progress requests).
import { GRPCDeadlineExceededError, castGrpcError, isRecoverableError, type IEvent, type IWatchRequest, type IWatchResponse } from 'etcd3';
import type { MemberStream, StreamOpener } from './etcd-stream.js';

export const PROGRESS_INTERVAL = 1_000;
export const SILENCE_LIMIT = 3_000;

/** etcd's watch_id of a progress report, which is for the whole stream. */
const PROGRESS_ID = '-1';

export interface WatchListener {
  /** etcd confirmed the watch: every change from the requested revision on will follow. */
  created(): void;
  /** Changes, in revision order; one call per etcd response. */
  events(events: readonly IEvent[]): void;
  /** The watch is over for good (stream lost, member dead or without a leader, history compacted). */
  ended(error: Error): void;
}

export interface WatchHandle {
  cancel(): void;
}

interface Watch {
  readonly id: string;
  readonly listener: WatchListener;
}

type Stream = MemberStream<IWatchRequest, IWatchResponse>;

export class WatchHub {
  private readonly watches = new Map<string, Watch>();
  private stream: LiveStream | null = null;
  private nextId = 1;

  constructor(private readonly client: StreamOpener) {}

  /** Watches keys under `prefix` from `fromRevision` (inclusive). */
  watch(prefix: string, fromRevision: number, listener: WatchListener): WatchHandle {
    const id = String(this.nextId++);
    const key = Buffer.from(prefix);
    const watch = { id, listener };
    this.watches.set(id, watch);
    this.stream ??= new LiveStream(this.client, (res) => this.dispatch(res), (err) => this.lost(err));
    this.stream.write({ create_request: { key, range_end: prefixEnd(key), start_revision: fromRevision, watch_id: id } });
    return { cancel: () => this.cancel(watch) };
  }

  /** Drops every watch without telling them (the client is closing). */
  close(): void {
    this.watches.clear();
    this.stream?.close();
    this.stream = null;
  }

  private cancel(watch: Watch): void {
    if (this.watches.get(watch.id) !== watch) return;
    this.watches.delete(watch.id);
    if (this.watches.size === 0) return this.close();
    this.stream?.write({ cancel_request: { watch_id: watch.id } });
  }

  private dispatch(res: IWatchResponse): void {
    if (res.watch_id === PROGRESS_ID) return;
    const watch = this.watches.get(res.watch_id);
    if (!watch) return; // cancelled by us; etcd's answers to it may still be on the way
    if (res.canceled) {
      this.watches.delete(watch.id);
      const why = Number(res.compact_revision) > 0 ? `history compacted up to revision ${res.compact_revision}` : res.cancel_reason || 'no reason given';
      watch.listener.ended(new Error(`etcd cancelled the watch: ${why}`));
      if (this.watches.size === 0) this.close();
    } else if (res.created) {
      watch.listener.created();
    } else if (res.events.length > 0) {
      watch.listener.events(res.events);
    }
  }

  private lost(error: Error): void {
    this.stream = null;
    const ended = [...this.watches.values()];
    this.watches.clear();
    for (const watch of ended) watch.listener.ended(error);
  }
}

/** One gRPC watch stream with its liveness check; reports its loss once, then is inert. */
class LiveStream {
  private opened: Stream | null = null;
  private readonly queued: IWatchRequest[] = [];
  private lastHeard = Date.now();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly client: StreamOpener,
    private readonly onResponse: (res: IWatchResponse) => void,
    private readonly onLost: (error: Error) => void,
  ) {
    this.timer = setInterval(() => this.check(), PROGRESS_INTERVAL);
    this.timer.unref();
    client.openStream<IWatchRequest, IWatchResponse>('Watch', 'watch').then(
      (stream) => this.attach(stream),
      (err: Error) => this.lose(err),
    );
  }

  write(request: IWatchRequest): void {
    if (this.closed) return;
    if (this.opened) this.opened.call.write(request);
    else this.queued.push(request);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const call = this.opened?.call;
    if (!call) return;
    for (const event of ['data', 'error', 'end']) call.removeAllListeners(event);
    call.on('error', () => {}); // the cancellation itself is reported as an error
    call.cancel();
  }

  private attach(stream: Stream): void {
    if (this.closed) {
      stream.call.on('error', () => {});
      stream.call.cancel();
      return;
    }
    this.opened = stream;
    stream.call.on('data', (res) => {
      this.lastHeard = Date.now();
      this.onResponse(res);
    });
    stream.call.on('error', (err) => this.lose(castGrpcError(err)));
    stream.call.on('end', () => this.lose(new Error('the member ended the watch stream')));
    for (const request of this.queued.splice(0)) stream.call.write(request);
  }

  private check(): void {
    if (Date.now() - this.lastHeard < SILENCE_LIMIT) return this.write({ progress_request: {} });
    // Judged after the sockets were read: when this process was not running (a blocked event
    // loop, a stopped process), the answers are waiting to be read, and the silence was ours.
    setImmediate(() => {
      if (Date.now() - this.lastHeard >= SILENCE_LIMIT) this.lose(new GRPCDeadlineExceededError('watch stream silent: no answer to progress requests'));
    });
  }

  private lose(error: Error): void {
    if (this.closed) return;
    const stream = this.opened;
    this.close();
    if (stream && isRecoverableError(error)) this.client.memberFailed(stream, error);
    const heard = `last heard ${Date.now() - this.lastHeard} ms ago`;
    this.onLost(new Error(stream ? `etcd ${stream.member.url}: ${error.message} (${heard})` : `no watch stream could be opened: ${error.message}`));
  }
}

/** The range end that makes [key, end) cover every key starting with `key`. */
function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
