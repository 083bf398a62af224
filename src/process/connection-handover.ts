// Connection hand-over, the supervisor's part: an idle keep-alive connection that a draining
// worker hands over (the raw handle beside a `conn` message) continues on a ready worker of the
// serving generation, round robin; after a supervisor upgrade it goes on to the new supervisor
// instead. The worker's part (what is idle, how it lets go) is worker-drain.ts.
import type { TcpHandle } from './messages.js';
import type { WorkerLink } from './worker-link.js';

/** Where connections go once this supervisor has been replaced: the new supervisor. */
export type HandoverSink = (key: string, handle: TcpHandle) => void;

export class ConnectionHandover {
  private sink: HandoverSink | null = null;
  private next = 0;
  private count = 0;

  /** `serving`: the workers of the generation serving now. */
  constructor(private readonly serving: () => readonly WorkerLink[]) {}

  /** Connections handed over by drained workers (their own count, sent when they finish). */
  get handedOver(): number {
    return this.count;
  }

  /** A worker finished its drain having handed over `n` connections. */
  counted(n: number): void {
    this.count += n;
  }

  /** From now on every connection goes to `sink` (this supervisor was replaced). */
  sendTo(sink: HandoverSink): void {
    this.sink = sink;
  }

  /**
   * Passes a connection accepted on `key` to a ready worker other than `from` (null: it came from
   * the supervisor this one replaced). With none ready, the connection is closed.
   */
  handOver(from: WorkerLink | null, key: string, handle: TcpHandle): void {
    if (this.sink) return this.sink(key, handle);
    const ready = this.serving().filter((w) => w.state === 'ready' && w !== from);
    const target = ready[this.next++ % Math.max(1, ready.length)];
    if (!target) return handle.close();
    target.sendWithHandle({ t: 'conn', key }, handle).then(
      () => handle.close(),
      () => handle.close(),
    );
  }
}
