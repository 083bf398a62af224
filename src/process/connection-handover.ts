// Connection hand-over, the supervisor's part: an idle keep-alive connection that a draining
// worker hands over (the raw handle beside a `conn` message), and a tunnel it moves (two handles,
// beside two `tunnel` messages: tunnel-move.ts), continue on a ready worker of the serving
// generation, round robin; after a supervisor upgrade they go on to the new supervisor instead.
// The worker's part (what is idle, how it lets go, how a tunnel quiesces) is worker-drain.ts and
// tunnel-move.ts.
// A tunnel's two halves are passed on together, once both are here: a worker that dies between
// them leaves a half nobody can use, which is closed here (the connection was that worker's, and
// is lost with it); a target that dies loses what it had received, nothing else.
import type { DirectMoves, TcpHandle, TunnelPart } from './messages.js';
import type { WorkerLink } from './worker-link.js';
import { PauseRecord } from './pause-record.js';

/** What goes to the new supervisor once this one has been replaced. */
export type HandoverMessage = { readonly t: 'conn'; readonly key: string } | TunnelPart;

/** Where connections go once this supervisor has been replaced: the new supervisor. */
export type HandoverSink = (msg: HandoverMessage, handle: TcpHandle) => Promise<void>;

type EndpointPart = Extract<TunnelPart, { part: 'endpoint' }>;

export class ConnectionHandover {
  private sink: HandoverSink | null = null;
  private next = 0;
  private count = 0;
  private nextTunnel = 1;
  /** Client halves waiting for their endpoint half, by sender and the sender's id. */
  private readonly halves = new Map<WorkerLink | null, Map<number, TcpHandle>>();
  /** Tunnels passed on to the serving generation (or the new supervisor), and those drained where they were. */
  private movedCount = 0;
  private stayedCount = 0;
  private lostCount = 0;
  /** Connections and tunnels being passed on now: a replaced supervisor exits only once they have gone. */
  private readonly passing = new Set<Promise<unknown>>();
  /** Move-channel counts of live workers, and the sum of those that exited. */
  private readonly direct = new Map<WorkerLink, DirectMoves>();
  private directGone: DirectMoves = { joined: 0, lost: 0 };
  /** Exited workers, with the counts of theirs already in directGone. */
  private readonly folded = new WeakMap<WorkerLink, DirectMoves>();
  /**
   * Tunnels a predecessor left with a worker unacknowledged when it exited (the worker hangs),
   * and the worker's joined count then: the worker joins them when it resumes; those it never
   * joins are lost when it exits. `counted`: how many of them were counted lost at its exit.
   */
  private readonly owedBy = new WeakMap<WorkerLink, { n: number; joinedBefore: number; counted: number }>();
  /** The pause each moved tunnel saw, as its new worker reported it. */
  readonly pauses = new PauseRecord();

  /** `serving`: the workers of the generation serving now. */
  constructor(
    private readonly serving: () => readonly WorkerLink[],
    private readonly warn: (fields: object, message: string) => void = () => {},
  ) {}

  /** Connections handed over by drained workers (their own count, sent when they finish). */
  get handedOver(): number {
    return this.count;
  }

  /** Tunnels: moved to the next generation, drained where they were, lost on the way (a process died). */
  get tunnels(): { readonly moved: number; readonly drained: number; readonly lost: number } {
    let moved = this.movedCount + this.directGone.joined;
    let lost = this.lostCount + this.directGone.lost;
    for (const c of this.direct.values()) {
      moved += c.joined;
      lost += c.lost;
    }
    return { moved, drained: this.stayedCount, lost };
  }

  /** A worker finished its drain having handed over `n` connections and kept `stayed` tunnels. */
  counted(n: number, stayed = 0): void {
    this.count += n;
    this.stayedCount += stayed;
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
    if (this.sink) return void this.track(this.sink({ t: 'conn', key }, handle).then(() => handle.close(), () => handle.close()));
    const target = this.target(from);
    if (!target) return handle.close();
    target.sendWithHandle({ t: 'conn', key }, handle).then(
      () => handle.close(),
      () => handle.close(),
    );
  }

  /** One half of a tunnel from `from` (null: the supervisor this one replaced); passed on with its other half. */
  tunnelPart(from: WorkerLink | null, msg: TunnelPart, handle: TcpHandle): void {
    let waiting = this.halves.get(from);
    if (msg.part === 'client') {
      if (!waiting) this.halves.set(from, (waiting = new Map()));
      waiting.get(msg.id)?.close();
      waiting.set(msg.id, handle);
      return;
    }
    const client = waiting?.get(msg.id);
    waiting?.delete(msg.id);
    if (!client) {
      this.lost(1, 'a tunnel arrived without its client half');
      return handle.close();
    }
    this.track(this.passOn(from, client, msg, handle));
  }

  private track(passing: Promise<unknown>): void {
    const forget = (): void => void this.passing.delete(done);
    const done: Promise<void> = passing.then(forget, forget);
    this.passing.add(done);
  }

  /**
   * Resolves once every connection and tunnel being passed on has gone (or `timeoutMs` passed):
   * a supervisor that exits with one in its hands closes it (the peers get FINs).
   */
  async settled(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.passing.size > 0 && Date.now() < until) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.passing]), new Promise((resolve) => (timer = setTimeout(resolve, until - Date.now())))]);
      clearTimeout(timer);
    }
  }

  /**
   * `n` tunnels sent straight to `w` by its predecessor, which exited before `w` acknowledged them
   * (`w` hangs): `w` holds them in its channel's queue, and no other process knows of them.
   */
  owed(w: WorkerLink, n: number): void {
    const joined = (this.folded.get(w) ?? this.direct.get(w))?.joined ?? 0;
    const owed = { n, joinedBefore: joined, counted: 0 };
    this.owedBy.set(w, owed);
    if (this.folded.has(w)) this.settleOwed(w, joined);
  }

  /** `w` exited having joined `joined` tunnels in all: those it was owed and never joined are lost. */
  private settleOwed(w: WorkerLink, joined: number): void {
    const owed = this.owedBy.get(w);
    if (!owed) return;
    const missing = Math.max(0, owed.n - (joined - owed.joinedBefore)) - owed.counted;
    if (missing > 0) this.lost(missing, 'a worker exited without the tunnels its predecessor had left with it; closed with it');
    // (A report that comes after the exit may say it joined more: then fewer were lost.)
    else if (missing < 0) this.lostCount += missing;
    owed.counted += missing;
  }

  /** `from` exited: a half it sent alone can never be joined (the connection was that worker's). */
  exited(from: WorkerLink): void {
    const counts = this.direct.get(from) ?? { joined: 0, lost: 0 };
    this.direct.delete(from);
    this.folded.set(from, counts);
    this.directGone = { joined: this.directGone.joined + counts.joined, lost: this.directGone.lost + counts.lost };
    this.settleOwed(from, counts.joined);
    const waiting = this.halves.get(from);
    this.halves.delete(from);
    if (!waiting || waiting.size === 0) return;
    for (const h of waiting.values()) h.close();
    this.lost(waiting.size, 'a worker exited while moving tunnels; the halves it had sent are closed');
  }

  private async passOn(from: WorkerLink | null, client: TcpHandle, msg: EndpointPart, endpoint: TcpHandle): Promise<void> {
    const id = this.nextTunnel++;
    const target = this.sink ? undefined : this.target(from);
    const send = this.sink ?? (target ? (m: HandoverMessage, h: TcpHandle) => target.sendWithHandle(m, h) : undefined);
    try {
      if (!send) throw new Error('no ready worker to take it');
      // Both at once, so nothing comes between them on the channel (a `drain` posted meanwhile
      // would reach the target between the halves, and it could exit holding one).
      await Promise.all([send({ t: 'tunnel', id, part: 'client' }, client), send({ ...msg, id }, endpoint)]);
      this.movedCount++;
    } catch (err) {
      this.lost(1, `a tunnel could not be passed on: ${(err as Error).message}`);
    } finally {
      from?.post({ t: 'tunnel-passed', id: msg.id });
      // Our copies: the receiver holds its own (the descriptor was duplicated on the way).
      client.close();
      endpoint.close();
    }
  }

  /**
   * The ready worker with the fewest handles waiting for it (round robin among equals), leaving
   * out those that stopped taking them (stopped, hung): one of those would hold every connection
   * sent its way until it resumes, while the others could serve them now. A busy worker has
   * handles waiting too, but takes them: it gets fewer, not none.
   */
  private target(from: WorkerLink | null): WorkerLink | undefined {
    const ready = this.serving().filter((w) => w.state === 'ready' && w !== from);
    const now = Date.now();
    const taking = ready.filter((w) => !w.handlesStalled(now));
    const pool = taking.length > 0 ? taking : ready;
    if (pool.length === 0) return undefined;
    const start = this.next++ % pool.length;
    let best = pool[start]!;
    for (let i = 1; i < pool.length; i++) {
      const w = pool[(start + i) % pool.length]!;
      if (w.handlesWaiting < best.handlesWaiting) best = w;
    }
    return best;
  }

  /**
   * A worker's counts of tunnels that moved straight between workers (move-channel.ts), so far:
   * from its reports and its status replies (whichever is newer: they only grow).
   */
  directMoves(w: WorkerLink, counts: DirectMoves): void {
    const joined = Number.isInteger(counts.joined) && counts.joined > 0 ? counts.joined : 0;
    const lost = Number.isInteger(counts.lost) && counts.lost > 0 ? counts.lost : 0;
    const folded = this.folded.get(w);
    const before = folded ?? this.direct.get(w) ?? { joined: 0, lost: 0 };
    if (joined <= before.joined && lost <= before.lost) return;
    if (lost > before.lost) this.warn({ workerPid: w.pid, tunnels: lost - before.lost }, 'tunnels lost on a move channel: sent, never joined (a worker died with them)');
    const now = { joined: Math.max(joined, before.joined), lost: Math.max(lost, before.lost) };
    if (!folded) return void this.direct.set(w, now);
    // News of a worker already gone (its last report came after its exit): only the difference counts.
    this.directGone = { joined: this.directGone.joined + now.joined - before.joined, lost: this.directGone.lost + now.lost - before.lost };
    this.folded.set(w, now);
    this.settleOwed(w, now.joined);
  }

  private lost(n: number, message: string): void {
    this.lostCount += n;
    this.warn({ tunnels: n }, message);
  }
}
