// The clients of the smuggling harness: victims (normal keep-alive requests, one at a time, each
// response checked strictly) and the attacker (one generated case on a fresh connection, read until
// the proxy closes it or it goes quiet). Both report to a host (SmuggleHarness) through ids.
import net, { type Socket } from 'node:net';
import { CLUSTERS, Rng, targetOf, type ClusterName, type SmuggleCase } from './smuggle-corpus.js';
import { echoedIds, header, parseResponseAt, readStream, type WireResponse } from './smuggle-wire.js';

/** What a victim needs from the harness. */
export interface VictimHost {
  readonly activeCases: number;
  register(id: string, owner: { kind: 'victim'; victim: number; cluster: ClusterName; target: string; host: string }): void;
  noteWritten(ids: readonly string[]): void;
  victimResult(victim: Victim, id: string, cluster: ClusterName, outcome: VictimOutcome): void;
}

// Victims: normal keep-alive clients, one request at a time, checked strictly.

export type VictimOutcome =
  | { kind: 'ok' }
  | { kind: 'bad'; reason: string; bytes: Buffer }
  | { kind: 'hitless-error'; bytes: Buffer }
  | { kind: 'timeout'; bytes: Buffer }
  | { kind: 'closed'; bytes: Buffer };

const VICTIM_TIMEOUT_MS = 4_000;

export class Victim {
  private socket: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | null = null;
  private budget = 0;
  private counter = 0;
  private stopped = false;
  private busy = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly harness: VictimHost,
    readonly index: number,
    private readonly port: number,
    readonly path: 'raw' | 'node',
  ) {}

  kick(n: number): void {
    this.budget = Math.min(this.budget + n, 64);
    this.poke();
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
    this.poke();
  }

  idle(timeoutMs: number): Promise<void> {
    if (this.budget === 0 && !this.busy) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      // Victims keep sending while any attack is in flight, and then as many more as they were asked.
      if (this.budget === 0 && this.harness.activeCases === 0) {
        for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (this.budget > 0) this.budget--;
      this.busy = true;
      try {
        await this.one();
      } catch {
        /* a connect failure: counted below as a closed connection */
      } finally {
        this.busy = false;
      }
    }
  }

  private async connect(): Promise<void> {
    this.buf = Buffer.alloc(0);
    this.closed = false;
    const socket = net.connect({ host: '127.0.0.1', port: this.port, noDelay: true });
    this.socket = socket;
    socket.on('error', () => {});
    // Events of a connection this victim already dropped do not concern the current one.
    socket.on('data', (d: Buffer) => {
      if (this.socket !== socket) return;
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.poke();
    });
    socket.once('close', () => {
      if (this.socket !== socket) return;
      this.closed = true;
      this.poke();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connect timeout')), 2_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error('closed while connecting'));
      });
    });
  }

  private async one(): Promise<void> {
    const fresh = this.socket === null || this.closed;
    if (fresh) {
      this.socket?.destroy();
      await this.connect();
    }
    const cluster = CLUSTERS[(this.counter + this.index) % CLUSTERS.length];
    const id = `v${this.index.toString(36)}${(this.counter++).toString(36).padStart(8, '0')}`;
    const t = targetOf(cluster);
    const target = `${t.prefix}/r/${id}`;
    this.harness.register(id, { kind: 'victim', victim: this.index, cluster, target, host: t.host });
    // The node-path victim's first request on each connection is a chunked upload: node:http
    // takes the connection from then on.
    const chunked = fresh && this.path === 'node';
    const text = chunked
      ? `POST ${target} HTTP/1.1\r\nHost: ${t.host}\r\nx-req-id: ${id}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`
      : `GET ${target} HTTP/1.1\r\nHost: ${t.host}\r\nx-req-id: ${id}\r\n\r\n`;
    this.buf = Buffer.alloc(0);
    this.socket!.write(text, 'latin1');
    this.harness.noteWritten([id]);
    const outcome = await this.read(id, cluster);
    if (outcome.kind !== 'ok') {
      this.socket?.destroy();
      this.socket = null;
    }
    this.harness.victimResult(this, id, cluster, outcome);
  }

  private async read(id: string, cluster: ClusterName): Promise<VictimOutcome> {
    const deadline = performance.now() + VICTIM_TIMEOUT_MS;
    for (;;) {
      const step = parseResponseAt(this.buf, 0, false, this.closed);
      if (step.kind === 'response') return this.judge(step.response, id, cluster);
      if (step.kind === 'error') return this.buf.length === 0 && this.closed ? { kind: 'closed', bytes: this.buf } : { kind: 'bad', reason: `unparseable response: ${step.reason}`, bytes: this.buf };
      if (this.closed) return this.buf.length === 0 ? { kind: 'closed', bytes: this.buf } : { kind: 'bad', reason: 'connection closed inside a response', bytes: this.buf };
      const left = deadline - performance.now();
      if (left <= 0 || this.stopped) return { kind: 'timeout', bytes: this.buf };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private judge(r: WireResponse, id: string, cluster: ClusterName): VictimOutcome {
    const bytes = Buffer.from(this.buf);
    if (r.end < this.buf.length) return { kind: 'bad', reason: 'bytes after the response', bytes };
    if (header(r, 'x-hitless-error') !== undefined) return { kind: 'hitless-error', bytes };
    if (r.status !== 200) return { kind: 'bad', reason: `status ${r.status}`, bytes };
    if (header(r, 'x-echo-id') !== id || r.body.toString('latin1') !== `id=${id}\n`) return { kind: 'bad', reason: 'a response that is not its own', bytes };
    if (header(r, 'x-cluster') !== cluster) return { kind: 'bad', reason: `answered by cluster ${header(r, 'x-cluster')}`, bytes };
    return { kind: 'ok' };
  }
}

// ---------------------------------------------------------------------------------------------
// The attacker

export interface AttackResult {
  readonly received: Buffer;
  /** hitless (or HAProxy) closed the connection. */
  readonly closed: boolean;
  readonly followSent: boolean;
  readonly ms: number;
}

/**
 * Sends a case on a fresh connection and reads until the proxy closes it, or nothing happened for
 * `quietMs` (no byte, no endpoint event for the case), or `hardMs` passed, or every request of the
 * case that reached an endpoint has its answer (`answered`), the follow-up's included.
 */
export function attack(port: number, c: SmuggleCase, run: { touch: (() => void) | null }, quietMs: number, hardMs: number, reached: (id: string) => boolean, written: (ids: readonly string[]) => void = () => {}): Promise<AttackResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let received: Buffer = Buffer.alloc(0);
    let closed = false;
    let followSent = false;
    let settled = false;
    let lastEvent = performance.now();
    let phase: 'sending' | 'first' | 'rest' = 'sending';
    const hard = setTimeout(() => finish(), hardMs);
    let quiet: NodeJS.Timeout | null = null;
    const armQuiet = (): void => {
      if (quiet !== null) clearTimeout(quiet);
      quiet = setTimeout(onQuiet, quietMs);
    };
    function finish(): void {
      if (settled) return;
      settled = true;
      clearTimeout(hard);
      if (quiet !== null) clearTimeout(quiet);
      run.touch = null;
      socket.destroy();
      resolve({ received, closed, followSent, ms: performance.now() - started });
    }
    const sendFollow = (): void => {
      if (followSent || c.followUp === null || closed || socket.destroyed) return;
      followSent = true;
      socket.write(c.followUp);
      written([c.followId!]);
    };
    const check = (): void => {
      if (settled || phase === 'sending') return;
      lastEvent = performance.now();
      if (closed) return finish();
      const reading = readStream(received, false);
      const answered = reading.responses.some((r) => r.status >= 200 || r.status === 101) || reading.tunnel !== null || reading.error !== null;
      if (phase === 'first' && answered) {
        phase = 'rest';
        sendFollow();
      }
      if (phase === 'rest' && answered && (c.followMode !== 'after' || followSent)) {
        // Done early when every request the case means to send was answered, and everything
        // that reached an endpoint too; otherwise when it goes quiet.
        const ids = echoedIds(received);
        const waiting = c.ids.filter((id) => reached(id) && !ids.includes(id));
        const finals = reading.responses.filter((r) => r.status >= 200 || r.status === 101).length;
        if (waiting.length === 0 && finals >= c.expectedAnswers && reading.pending === 0) return finish();
      }
      armQuiet();
    };
    function onQuiet(): void {
      if (settled) return;
      if (performance.now() - lastEvent < quietMs - 1) return armQuiet();
      if (phase === 'first' && !followSent && c.followMode === 'after') {
        // No answer to the attack in time: the follow-up goes anyway, on the same connection.
        phase = 'rest';
        sendFollow();
        return armQuiet();
      }
      finish();
    }
    run.touch = () => check();
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      received = received.length === 0 ? d : Buffer.concat([received, d]);
      check();
    });
    socket.once('close', () => {
      closed = true;
      check();
      finish();
    });
    socket.once('connect', () => {
      void (async () => {
        const pieces = splitPieces(c);
        for (let i = 0; i < pieces.length; i++) {
          if (socket.destroyed) break;
          socket.write(pieces[i]);
          if (i === 0) written(c.ids.filter((id) => id !== c.followId));
          // A head in pieces is a timing case: the proxy must wait for the rest.
          if (i < pieces.length - 1) await new Promise((r) => setTimeout(r, 5));
        }
        if (c.followMode === 'pipelined') sendFollow();
        phase = c.followMode === 'after' ? 'first' : 'rest';
        armQuiet();
        check();
      })();
    });
  });
}

function splitPieces(c: SmuggleCase): Buffer[] {
  if (c.pieces <= 1 || c.attack.length < 4) return [c.attack];
  const r = new Rng(c.seed ^ 0x9e3779b9);
  const cuts = new Set<number>();
  while (cuts.size < Math.min(c.pieces - 1, c.attack.length - 1)) cuts.add(1 + r.int(c.attack.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of sorted) {
    out.push(c.attack.subarray(prev, cut));
    prev = cut;
  }
  out.push(c.attack.subarray(prev));
  return out;
}

/** Runs `next()` cases on `concurrency` lanes until it returns null or `deadline` (ms, performance.now) passes. */
export async function runLanes(concurrency: number, deadline: number, next: () => SmuggleCase | null, each: (c: SmuggleCase) => Promise<void>): Promise<void> {
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const c = next();
      if (c === null) return;
      await each(c);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

