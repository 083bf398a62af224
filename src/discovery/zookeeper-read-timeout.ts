// The read timeout of a real ZooKeeper client, which node-zookeeper-client lacks.
//
// The Java client (ClientCnxn) gives up on a server it has heard nothing from, ping replies
// included, for readTimeout = 2/3 of the negotiated session timeout, and moves to the next member
// of the connect string within the same session. It pings after a third of the session timeout
// without traffic, so a live server always answers well within the read timeout.
// node-zookeeper-client 1.x sends the same pings (socket idle timeout = sessionTimeout / 3) but
// never times a read out: a member that hangs (SIGSTOP, GC pause, frozen VM, half-open TCP) keeps
// it "connected" for as long as the hang lasts while the session expires elsewhere. The library
// has no option or hook for this, so the connected socket is watched from outside: its 'data'
// events mark when the member was last heard from, and one timer (re-armed only when it fires,
// not per packet) reports the silence.
import type { Socket } from 'node:net';

export class ReadTimeout {
  private socket: Socket | null = null;
  private timeoutMs = 0;
  private lastHeard = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly heard = () => {
    this.lastHeard = Date.now();
  };

  /** `onSilent` is told how long the member has been silent; the caller drops the connection. */
  constructor(private readonly onSilent: (silentMs: number, timeoutMs: number) => void) {}

  /** Watches a newly connected socket; `timeoutMs` comes from the negotiated session timeout. */
  watch(socket: Socket, timeoutMs: number): void {
    this.unwatch();
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.lastHeard = Date.now();
    socket.on('data', this.heard);
    this.arm(timeoutMs);
  }

  unwatch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.off('data', this.heard);
    this.socket = null;
  }

  /** Heard from the member within the read timeout, as of now (false when not watching). */
  get fresh(): boolean {
    return this.socket !== null && this.silentMs() < this.timeoutMs;
  }

  private silentMs(): number {
    return Date.now() - this.lastHeard;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, ms));
    this.timer.unref();
  }

  private check(): void {
    const socket = this.socket;
    if (!socket) return;
    const left = this.timeoutMs - this.silentMs();
    if (left > 0) return this.arm(left);
    // Timers run before I/O in an event-loop turn: after a stall of this very process (GC, a
    // SIGSTOP of hitless) the member's answer may be waiting unread. Let one poll phase read it
    // before calling the member silent.
    this.timer = null;
    setImmediate(() => {
      if (this.socket !== socket || this.timer) return;
      const after = this.timeoutMs - this.silentMs();
      if (after > 0) this.arm(after);
      else this.onSilent(this.silentMs(), this.timeoutMs);
    });
  }
}
