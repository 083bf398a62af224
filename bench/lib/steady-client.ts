// The well-behaved client of bench:slowloris: requests at a fixed rate, whatever the target does
// (open loop), on KA_CONNS keep-alive connections (KA_RATE requests/s in all) and on a new
// connection each (NEW_RATE/s). A request's latency runs from the moment it was due, not from
// when it could be sent, so a stalled target shows as latency instead of as fewer requests.
// Samples go into the phase the parent names ("without attack", "under attack"); it asks for a
// summary of every phase at the end. Bounded: each request has REQUEST_TIMEOUT_MS, the process
// stops when told or when its parent goes.
// Usage (forked): node --import tsx steady-client.ts PORT KA_CONNS KA_RATE NEW_RATE
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LatencySummary {
  readonly requests: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}
export interface PhaseSummary {
  readonly keepAlive: LatencySummary;
  readonly newConnection: LatencySummary;
  readonly all: LatencySummary;
  /** The slowest requests: when they were due (seconds into the phase) and their latency (ms). */
  readonly slowest: ReadonlyArray<{ readonly at: number; readonly ms: number }>;
  /**
   * The longest stall of this client's own event loop (ms): on a shared machine the client can
   * be starved too, and a latency that large is then the client's, not the target's.
   */
  readonly clientStallMs: number;
}
export type ToSteady = { readonly t: 'phase'; readonly name: string | null } | { readonly t: 'report' } | { readonly t: 'stop' };
export type FromSteady = { readonly t: 'report'; readonly phases: Record<string, PhaseSummary> };

const REQUEST_TIMEOUT_MS = 10_000;
/** The scheduler's resolution: a request goes out at most this late (the same for every target). */
const TICK_MS = 1;

const [port, kaConns, kaRate, newRate] = process.argv.slice(2, 6).map(Number);
const REQUEST = `GET /?steady HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: hitless-bench-steady\r\n\r\n`;

interface Samples {
  readonly startedAt: number;
  readonly keepAlive: number[];
  readonly newConnection: number[];
  /** [due, latency] of every answered request, to tell when the slow ones happened. */
  readonly timeline: Array<readonly [number, number]>;
  readonly loopDelay: IntervalHistogram;
  kaErrors: number;
  newErrors: number;
}

/** Counts one request, answered (`ok`) or not, into the phase it was due in. */
function record(into: Samples | null, kind: 'keepAlive' | 'newConnection', dueAt: number, ok: boolean): void {
  if (!into) return;
  if (!ok) {
    if (kind === 'keepAlive') into.kaErrors++;
    else into.newErrors++;
    return;
  }
  const ms = performance.now() - dueAt;
  into[kind].push(ms);
  into.timeline.push([dueAt, ms]);
}
const phases = new Map<string, Samples>();
let phase: Samples | null = null;

/** Whether `text` holds one whole response (Content-Length framing, which every target uses here). */
function responseLength(text: string): number {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return -1;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headEnd));
  const total = headEnd + 4 + Number(length?.[1] ?? 0);
  return text.length >= total ? total : -1;
}

// ---- keep-alive connections: requests queue per connection, one in flight at a time ----

class KeepAlive {
  private socket: Socket | null = null;
  /** When each queued request was due, and the phase it counts in; the first one is in flight. */
  private readonly due: Array<{ readonly at: number; readonly into: Samples | null }> = [];
  private text = '';
  private timer: NodeJS.Timeout | null = null;

  request(at: number): void {
    this.due.push({ at, into: phase });
    if (this.due.length === 1) this.send();
  }

  close(): void {
    this.socket?.destroy();
  }

  private send(): void {
    if (this.socket === null || this.socket.destroyed) this.socket = this.connect();
    this.socket.write(REQUEST);
    this.timer = setTimeout(() => this.fail(), REQUEST_TIMEOUT_MS);
  }

  private connect(): Socket {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.text = '';
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      const used = responseLength(this.text);
      if (used === -1) return;
      this.text = this.text.slice(used);
      this.done(true);
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      if (this.socket === socket && this.due.length > 0) this.fail();
    });
    return socket;
  }

  private fail(): void {
    this.socket?.destroy();
    this.socket = null;
    this.done(false);
  }

  private done(ok: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const due = this.due.shift();
    if (due) record(due.into, 'keepAlive', due.at, ok);
    if (this.due.length > 0) this.send();
  }
}

// ---- a new connection per request ----

function newConnectionRequest(dueAt: number): void {
  const into = phase;
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  let text = '';
  let settled = false;
  const settle = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    record(into, 'newConnection', dueAt, ok);
  };
  const timer = setTimeout(() => settle(false), REQUEST_TIMEOUT_MS);
  socket.once('connect', () => socket.write(REQUEST));
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    if (responseLength(text) !== -1) settle(true);
  });
  socket.on('error', () => {});
  socket.once('close', () => settle(false));
}

// ---- the schedule ----

const pool = Array.from({ length: kaConns }, () => new KeepAlive());
const t0 = performance.now();
let kaIssued = 0;
let newIssued = 0;

/** Issues every request due by now, each stamped with the time it was due. */
function tick(): void {
  const elapsed = performance.now() - t0;
  // Request k is due at t0 + k/rate: issued on the first tick at or after that moment.
  for (; (kaIssued * 1000) / kaRate <= elapsed; kaIssued++) pool[kaIssued % kaConns].request(t0 + (kaIssued * 1000) / kaRate);
  for (; (newIssued * 1000) / newRate <= elapsed; newIssued++) newConnectionRequest(t0 + (newIssued * 1000) / newRate);
}

function summary(samples: readonly number[], errors: number): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
  return { requests: sorted.length, errors, p50: at(50), p99: at(99), max: sorted.at(-1) ?? NaN };
}

function summarise(s: Samples): PhaseSummary {
  return {
    keepAlive: summary(s.keepAlive, s.kaErrors),
    newConnection: summary(s.newConnection, s.newErrors),
    all: summary([...s.keepAlive, ...s.newConnection], s.kaErrors + s.newErrors),
    slowest: [...s.timeline]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([due, ms]) => ({ at: (due - s.startedAt) / 1000, ms })),
    clientStallMs: s.loopDelay.max / 1e6,
  };
}

const ticker = setInterval(tick, TICK_MS);
process.on('message', (msg: ToSteady) => {
  if (msg.t === 'phase') {
    phase?.loopDelay.disable();
    if (msg.name === null) phase = null;
    else {
      phase = phases.get(msg.name) ?? { startedAt: performance.now(), keepAlive: [], newConnection: [], timeline: [], loopDelay: monitorEventLoopDelay({ resolution: 10 }), kaErrors: 0, newErrors: 0 };
      phase.loopDelay.enable();
      phases.set(msg.name, phase);
    }
  } else if (msg.t === 'report') {
    process.send?.({ t: 'report', phases: Object.fromEntries([...phases].map(([name, s]) => [name, summarise(s)])) } satisfies FromSteady);
  } else {
    clearInterval(ticker);
    for (const c of pool) c.close();
    process.disconnect?.();
  }
});
process.on('disconnect', () => process.exit(0));
