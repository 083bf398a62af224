// A draining worker's tunnels (tcp-mode connections, upgraded HTTP connections) move to the next
// generation instead of draining: each is frozen (tunnel.ts: libuv stops reading both sockets),
// and once every byte it had read has been written (bounded by QUIESCE_MS) its two handles go to
// a worker of the serving generation, where they are joined again. A tunnel that does not quiesce
// in time (a peer that does not read: bytes stay queued in this process) carries on here and
// drains as before (`stayed`).
// Two ways: straight to this worker's successor over their move channel (move-channel.ts), when
// the supervisor says it has one, the tunnels that became quiet in one turn together (one lane
// message for all their descriptors); otherwise through the supervisor (a supervisor upgrade, a
// successor that died or drains in turn), where each handle waits for the receiver's
// acknowledgement on each of two hops (child_process), so only a few go at once.
// A move holds its place in the window until the receiver has it (`passed`): a tunnel frozen
// long before its turn to be read would only see a longer pause, the throughput would not grow.
import type { Tunnel } from '../dataplane/builtin/tunnel.js';
import type { TunnelPart } from './messages.js';
import { LANE_BATCH, type OutgoingTunnel, type SuccessorChannel } from './move-channel.js';
import { machineMs } from '../util/machine-clock.js';

/** Sends one message with a handle beside it; `done` once it is on its way (or failed). */
export type SendPart = (msg: TunnelPart, handle: object, done: (err: Error | null) => void) => void;

/** How long a frozen tunnel may take to write out what it had read before it stays here instead. */
export const QUIESCE_MS = 300;
const QUIESCE_POLL_MS = 2;
/** Moves on their way at once through the supervisor. */
const IN_FLIGHT = 16;
/**
 * Moves on their way at once straight to the successor. bench:handover, 10,000 tunnels: 32 moved
 * them in 1.7 s with a p99 pause of 38 ms; 64 took as long with twice the pauses (they wait in the
 * receiver's queue); 24 was no better.
 */
const DIRECT_IN_FLIGHT = 32;
/** A move whose `passed` never comes (the supervisor lost it, the successor hangs) frees its place after this. */
const PASS_TIMEOUT_MS = 2_000;

interface Move {
  readonly tunnel: Tunnel;
  readonly key: string;
  readonly done: (moved: boolean) => void;
}

export class TunnelMover {
  private readonly queue: Move[] = [];
  private readonly offered = new WeakSet<Tunnel>();
  private inFlight = 0;
  private nextId = 1;
  /**
   * Moves sent, waiting for the word that they were taken (`passed`): their place is still taken.
   * By id, in the order sent, with the time each was sent: one timer for all (the oldest's).
   */
  private readonly unpassed = new Map<number, number>();
  private passTimer: NodeJS.Timeout | null = null;
  /** Tunnels sent to the next generation. */
  moved = 0;
  /** Tunnels that could not quiesce in time, or whose sending failed: they drain here. */
  stayed = 0;
  /** Sent over the move channel and never joined: the successor died with them. */
  lost = 0;
  /** Sent over the move channel since the last look (takeSentDirect). */
  private sentDirect = 0;
  /**
   * Tunnels ready to go straight to the successor, sent together at the end of this turn (or at
   * LANE_BATCH): the moves a pump starts are quiet at once, and go as one lane message.
   */
  private batch: Array<OutgoingTunnel & { readonly move: Move }> = [];

  /** `direct`: the move channel to this worker's successor, when the supervisor says it has one. */
  constructor(
    private readonly send: SendPart,
    private direct: SuccessorChannel | null = null,
  ) {}

  /** The successor took tunnel `id`, or lost `ids` (move-channel.ts tells). */
  joined = (id: number): void => this.passed(id);

  lostOnChannel = (ids: readonly number[]): void => {
    this.lost += ids.length;
    for (const id of ids) this.passed(id);
  };

  /** Tunnels sent straight to the successor since the last call. */
  takeSentDirect(): number {
    const n = this.sentDirect;
    this.sentDirect = 0;
    return n;
  }

  private get window(): number {
    return this.direct?.open ? DIRECT_IN_FLIGHT : IN_FLIGHT;
  }

  /**
   * Moves `tunnel` (accepted on `key`) when its turn comes; `done(true)` once it has left this
   * process, `done(false)` if it stays. False (and no `done`): not taken (offered before, or not open).
   */
  offer(tunnel: Tunnel, key: string, done: (moved: boolean) => void): boolean {
    if (this.offered.has(tunnel) || tunnel.state !== 'open') return false;
    this.offered.add(tunnel);
    this.queue.push({ tunnel, key, done });
    this.pump();
    return true;
  }

  /** Moves not yet finished (queued or in flight). */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  private pump(): void {
    while (this.inFlight < this.window && this.queue.length > 0) {
      const move = this.queue.shift()!;
      if (move.tunnel.state !== 'open' || move.tunnel.finishing || move.tunnel.destroyed) {
        move.done(false);
        continue;
      }
      this.inFlight++;
      this.start(move);
    }
  }

  private finish(move: Move, moved: boolean): void {
    this.inFlight--;
    if (moved) this.moved++;
    move.done(moved);
    this.pump();
  }

  /** The supervisor passed tunnel `id` on (or gave up on it): its place goes to the next. */
  passed(id: number): void {
    if (!this.unpassed.delete(id)) return;
    if (this.unpassed.size === 0 && this.passTimer !== null) {
      clearTimeout(this.passTimer);
      this.passTimer = null;
    }
    this.inFlight--;
    this.pump();
  }

  /** Frees the place of every move not taken within PASS_TIMEOUT_MS, then waits for the next oldest. */
  private readonly expire = (): void => {
    this.passTimer = null;
    const now = Date.now();
    for (const [id, sentAt] of this.unpassed) {
      const left = sentAt + PASS_TIMEOUT_MS - now;
      if (left > 0) {
        this.passTimer = setTimeout(this.expire, left);
        return;
      }
      // Not taken within the bound: a successor that stopped reading (hung) gets no more.
      if (this.direct?.open) this.direct = null;
      this.passed(id);
    }
  };

  private start(move: Move): void {
    const { tunnel } = move;
    const frozenAt = { wall: Date.now(), machine: machineMs() };
    tunnel.freeze();
    const deadline = Date.now() + QUIESCE_MS;
    const check = (): void => {
      if (tunnel.destroyed || tunnel.endpointClosed) return this.finish(move, false); // ended meanwhile: nothing to move
      if (tunnel.quiet) return this.sendOff(move, frozenAt);
      if (Date.now() >= deadline) return this.stay(move);
      setTimeout(check, QUIESCE_POLL_MS);
    };
    check();
  }

  /** Not movable now: it carries on here until it ends or the drain's timeout. */
  private stay(move: Move): void {
    this.stayed++;
    move.tunnel.thaw();
    this.finish(move, false);
  }

  private sendOff(move: Move, frozenAt: { readonly wall: number; readonly machine: number }): void {
    const { tunnel, key } = move;
    const handles = tunnel.handles();
    if (!handles) return this.stay(move);
    const id = this.nextId++;
    const bytes = tunnel.clientBytes();
    const record = { ...tunnel.record, priorBytesIn: tunnel.record.priorBytesIn + bytes.read, priorBytesOut: tunnel.record.priorBytesOut + bytes.written };
    const endpointPart = { t: 'tunnel', id, part: 'endpoint', key, record, ends: tunnel.ends(), frozenAt: frozenAt.wall, frozenAtMachineMs: frozenAt.machine } as const;
    const outgoing = { move, part: endpointPart, client: handles.client, endpoint: handles.upstream };
    if (!this.direct?.open) return this.sendRelayed(outgoing);
    this.batch.push(outgoing);
    if (this.batch.length >= LANE_BATCH) this.sendBatch();
    else if (this.batch.length === 1) queueMicrotask(this.sendBatch);
  }

  /** Through the supervisor: the two halves as two messages. */
  private sendRelayed({ move, part, client, endpoint }: OutgoingTunnel & { readonly move: Move }): void {
    this.send({ t: 'tunnel', id: part.id, part: 'client' }, client, (err) => {
      // Not sent: the supervisor is gone; the tunnel carries on here.
      if (err) return this.stay(move);
      this.send(part, endpoint, (err2) => {
        // The client half reached the supervisor alone: it closes that copy (the pair never
        // completes); this process still owns the connection.
        if (err2) return this.stay(move);
        this.sentOff(move, part.id);
      });
    });
  }

  private readonly sendBatch = (): void => {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    const direct = this.direct;
    if (!direct?.open) {
      // (The successor started draining meanwhile, or hung: through the supervisor.)
      for (const outgoing of batch) this.sendRelayed(outgoing);
      return;
    }
    direct.sendTunnels(batch, (i, errno) => {
      const { move, part } = batch[i]!;
      if (errno !== 0) return this.stay(move);
      this.sentOff(move, part.id);
      this.sentDirect++;
    });
  };

  /** Both halves are on their way: this process lets go of them; the place is kept until `passed`. */
  private sentOff(move: Move, id: number): void {
    move.tunnel.movedAway();
    this.moved++;
    move.done(true);
    this.unpassed.set(id, Date.now());
    this.passTimer ??= setTimeout(this.expire, PASS_TIMEOUT_MS);
  }
}
