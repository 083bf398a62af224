// The direct channel between a worker and its successor (the worker of the next generation in the
// same slot), which its tunnels move over at a code upgrade without passing through the supervisor.
// It is a socketpair: each worker is started with one end of its own at SUCCESSOR_FD, and a worker
// started by an upgrade also gets the other end of its predecessor's at PREDECESSOR_FD (the
// supervisor held it in between and never reads it). Both ends are opened as IPC pipes
// (node-internals.ts openHandlePipe): one handle per write, no acknowledgement per handle, which is
// what makes 10,000 moves take well under the 19 s they took through the supervisor.
//
// Lines of JSON, each a MoveMessage. Tunnels go in batches over a *lane* when there is one: a
// second socketpair the predecessor makes at its first move (util/fd-lane.ts), whose end it sends
// beside a `lane` line. A batch is one lane message carrying the descriptors of up to 32 tunnels
// (client, endpoint, client, …), sent first, and then one `tunnels` line with their parts: when
// the successor reads the line, the descriptors are already in the lane. Without a lane (koffi
// cannot load, or the lane is full) a tunnel is two lines (tunnel-move.ts's TunnelPart), the
// client handle beside the first and the endpoint handle beside the second. Descriptors arrive in
// the order they were written and each with (the start of) its own line, so the handles queue and
// each line that carries one takes the first.
// Predecessor → successor: `lane`, tunnels (batches or parts), then `end` once it will send
// nothing more.
// Successor → predecessor: `joined` (ids, in batches: each was taken care of here, joined or
// counted lost here; its place in the window goes to the next), and `draining` (the successor
// itself was replaced: send nothing more; `end` once all are joined).
import { closeSync } from 'node:fs';
import type { NativeTcpHandle } from '../util/node-internals.js';
import { connectedTcpHandle, handleFd, openHandlePipe, unixSocketHandle, type HandlePipe } from '../util/node-internals.js';
import { FdLane, MAX_LANE_FDS } from '../util/fd-lane.js';
import type { TunnelPart } from './messages.js';

export const SUCCESSOR_FD = 4;
export const PREDECESSOR_FD = 5;
/** A worker's environment names the descriptors of its ends: always its own, and its predecessor's when it has one. */
export const ENV_SUCCESSOR = 'HITLESS_SUCCESSOR_CHANNEL_FD';
export const ENV_PREDECESSOR = 'HITLESS_PREDECESSOR_CHANNEL_FD';

type EndpointPart = Extract<TunnelPart, { part: 'endpoint' }>;

type MoveMessage =
  | TunnelPart
  | { readonly t: 'lane' }
  | { readonly t: 'tunnels'; readonly parts: readonly EndpointPart[] }
  | { readonly t: 'end' }
  | { readonly t: 'joined'; readonly ids: readonly number[] }
  | { readonly t: 'draining' };

/** Tunnels per lane message: two descriptors each. */
export const LANE_BATCH = MAX_LANE_FDS / 2;

/** A tunnel to send: its part (what it is) and its two handles. */
export interface OutgoingTunnel {
  readonly part: EndpointPart;
  readonly client: NativeTcpHandle;
  readonly endpoint: NativeTcpHandle;
}

/** The largest line accepted: a tunnel's record is a few hundred bytes. Past it the channel is broken. */
const MAX_LINE = 64 * 1024;

/** Newline-delimited JSON with handles, over an inherited socketpair end. */
class LineChannel {
  private readonly pipe: HandlePipe;
  private text = '';
  private readonly handles: NativeTcpHandle[] = [];
  private closed = false;

  constructor(
    fd: number,
    private readonly onMessage: (msg: MoveMessage, handle: NativeTcpHandle | null) => void,
    private readonly onEnd: () => void,
  ) {
    this.pipe = openHandlePipe(fd, (bytes, handle) => this.read(bytes, handle));
  }

  send(msg: MoveMessage, handle: NativeTcpHandle | null, done: (errno: number) => void = () => {}): void {
    if (this.closed) return done(-32);
    this.pipe.write(`${JSON.stringify(msg)}\n`, handle, done);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipe.close();
    for (const h of this.handles.splice(0)) h.close();
  }

  private read(bytes: Buffer | null, handle: NativeTcpHandle | null): void {
    if (handle) this.handles.push(handle);
    if (bytes === null) return this.end();
    this.text += bytes.toString('utf8');
    let nl: number;
    while ((nl = this.text.indexOf('\n')) >= 0) {
      const line = this.text.slice(0, nl);
      this.text = this.text.slice(nl + 1);
      let msg: MoveMessage;
      try {
        msg = JSON.parse(line) as MoveMessage;
      } catch {
        return this.end(); // not our protocol: nothing after this can be trusted
      }
      const carries = msg.t === 'tunnel' || msg.t === 'lane';
      const h = carries ? (this.handles.shift() ?? null) : null;
      if (carries && !h) return this.end(); // a part without its descriptor: the pairing is lost
      this.onMessage(msg, h);
      if (this.closed) return;
    }
    if (this.text.length > MAX_LINE) this.end();
  }

  private end(): void {
    if (this.closed) return;
    this.close();
    this.onEnd();
  }
}

/**
 * The draining side: sends tunnels to the successor. `joined(id)` for each the successor took,
 * `lost(ids)` for those it had been sent and never took (it died, or the channel broke).
 */
export class SuccessorChannel {
  private readonly channel: LineChannel;
  /** Sent, not yet joined: their places in the mover's window are still taken. */
  private readonly unjoined = new Set<number>();
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** The lane to the successor: not made yet (undefined), or none (null: one descriptor per message). */
  private lane: FdLane | null | undefined;

  constructor(
    fd: number,
    private readonly joined: (id: number) => void,
    private readonly lost: (ids: readonly number[]) => void,
  ) {
    this.channel = new LineChannel(fd, (msg) => this.onMessage(msg), () => this.onEnd());
  }

  /** Tunnels sent and not yet acknowledged: the successor holds them (or is about to). */
  get unconfirmed(): number {
    return this.unjoined.size;
  }

  /** Whether tunnels can go this way now (the successor is alive and not draining itself). */
  get open(): boolean {
    return this.state === 'open';
  }

  /** Sends both halves of tunnel `part.id`; `sent(errno)` once both are written (the descriptors are on their way). */
  sendTunnel(endpointPart: Extract<TunnelPart, { part: 'endpoint' }>, client: NativeTcpHandle, endpoint: NativeTcpHandle, sent: (errno: number) => void): void {
    const { id } = endpointPart;
    this.unjoined.add(id);
    // Both written at once (libuv keeps their order); writes complete in order, so the first's
    // result is known when the second's comes. On a failure the tunnel stays where it is: a
    // half that did go is a copy of the descriptor, closed by the successor when its pair never comes.
    let first = 0;
    this.channel.send({ t: 'tunnel', id, part: 'client' }, client, (err) => (first = err));
    this.channel.send(endpointPart, endpoint, (err) => {
      const errno = first !== 0 ? first : err;
      if (errno !== 0) this.unjoined.delete(id);
      sent(errno);
    });
  }

  /**
   * Sends a batch of tunnels (at most LANE_BATCH): over the lane in one message when it can, else
   * each as two descriptor-carrying lines. `sent(i, errno)` for each: 0 once its descriptors are on
   * their way and its line written (this process may close its copies), or why it was not sent
   * (it stays here). A batch's descriptors are in the lane before its line is written, and this
   * process closes nothing before that line is: a line that cannot be written leaves the tunnels
   * here, with copies in a lane that is then closed.
   */
  sendTunnels(batch: readonly OutgoingTunnel[], sent: (i: number, errno: number) => void): void {
    const lane = this.laneToSuccessor();
    if (lane !== null && batch.length <= LANE_BATCH) {
      const fds = batch.flatMap(({ client, endpoint }) => [handleFd(client), handleFd(endpoint)]);
      if (fds.every((fd): fd is number => fd !== null) && lane.send(fds) === 0) {
        for (const { part } of batch) this.unjoined.add(part.id);
        this.channel.send({ t: 'tunnels', parts: batch.map(({ part }) => part) }, null, (errno) => {
          if (errno !== 0) {
            for (const { part } of batch) this.unjoined.delete(part.id);
            this.dropLane();
          }
          batch.forEach((_, i) => sent(i, errno));
        });
        return;
      }
      // (The lane is full, or a handle has no descriptor: this batch goes one descriptor per line.)
    }
    batch.forEach(({ part, client, endpoint }, i) => this.sendTunnel(part, client, endpoint, (errno) => sent(i, errno)));
  }

  /** The lane, made (and its other end sent) at the first batch; null where none can be made. */
  private laneToSuccessor(): FdLane | null {
    if (this.lane !== undefined) return this.lane;
    const made = FdLane.create();
    if (made instanceof Error) return (this.lane = null);
    const peer = unixSocketHandle(made.peerFd);
    if (typeof peer === 'number') {
      closeSync(made.peerFd);
      made.lane.close();
      return (this.lane = null);
    }
    // This process's copy of the other end closes once it is on its way (or could not go: then
    // the first batch's line fails too, and its tunnels stay).
    this.channel.send({ t: 'lane' }, peer, () => peer.close());
    return (this.lane = made.lane);
  }

  private dropLane(): void {
    this.lane?.close();
    this.lane = null;
  }

  /** Never used (no upgrade came, or this worker is stopping): the successor's end just closes. */
  close(): void {
    this.state = 'closed';
    this.dropLane();
    this.channel.close();
  }

  private onMessage(msg: MoveMessage): void {
    if (msg.t === 'joined' && Array.isArray(msg.ids)) {
      for (const id of msg.ids) if (this.unjoined.delete(id)) this.joined(id);
      this.maybeEnd();
    } else if (msg.t === 'draining' && this.state === 'open') {
      // The successor was replaced in turn: what is still to move goes through the supervisor.
      this.state = 'closing';
      this.maybeEnd();
    }
  }

  private maybeEnd(): void {
    if (this.state !== 'closing' || this.unjoined.size > 0) return;
    this.state = 'closed';
    this.dropLane();
    this.channel.send({ t: 'end' }, null, () => this.channel.close());
  }

  private onEnd(): void {
    this.state = 'closed';
    this.dropLane();
    if (this.unjoined.size === 0) return;
    const ids = [...this.unjoined];
    this.unjoined.clear();
    this.lost(ids);
  }
}

/**
 * Tunnels joined per acknowledgement, and the longest an acknowledgement waits for more. 16 (half
 * the sender's window of 32) halves the acknowledgement writes of 8, which were a tenth of the
 * receiver's CPU; with the drain's scan skipping queued tunnels, bench:handover moved 10,000 in
 * 2.08-2.40 s (one run 1.47 s) against 2.43-2.82 s, four runs each in turns.
 */
const ACK_BATCH = 16;
const ACK_MS = 2;

/**
 * The receiving side: the predecessor's tunnels arrive here. `join` takes each whole tunnel;
 * halves left without their pair when the channel ends are closed and counted (`lost`).
 */
export class PredecessorChannel {
  private readonly channel: LineChannel;
  private readonly halves = new Map<number, NativeTcpHandle>();
  /** The predecessor's lane, once its end has come. */
  private lane: FdLane | null = null;
  /** `tunnels` lines taken (each names the lane message that carries its descriptors). */
  laneBatches = 0;
  private joinedIds: number[] = [];
  /** Sends the acknowledgement of `joinedIds` ACK_MS after the first, when no batch filled before. */
  private ackTimer: NodeJS.Timeout | undefined;
  private isOpen = true;
  private ended!: () => void;
  /** Resolves once the predecessor will send nothing more (its `end`, or the channel closed). */
  readonly done = new Promise<void>((resolve) => (this.ended = resolve));

  constructor(
    fd: number,
    private readonly join: (part: EndpointPart, client: NativeTcpHandle, endpoint: NativeTcpHandle) => void,
    private readonly lost: (n: number) => void,
  ) {
    this.channel = new LineChannel(fd, (msg, handle) => this.onMessage(msg, handle), () => this.onEnd());
  }

  get open(): boolean {
    return this.isOpen;
  }

  /** This worker drains in turn: the predecessor stops sending, and ends once all it sent is joined. */
  draining(): void {
    if (this.isOpen) this.channel.send({ t: 'draining' }, null);
  }

  private onMessage(msg: MoveMessage, handle: NativeTcpHandle | null): void {
    if (msg.t === 'end') return this.onEnd();
    if (msg.t === 'lane') return this.takeLane(handle);
    if (msg.t === 'tunnels') return this.joinBatch(msg.parts);
    if (msg.t !== 'tunnel' || !handle) return handle?.close();
    if (msg.part === 'client') {
      this.halves.get(msg.id)?.close();
      this.halves.set(msg.id, handle);
      return;
    }
    const client = this.halves.get(msg.id);
    this.halves.delete(msg.id);
    if (!client) {
      handle.close();
      return this.lost(1);
    }
    this.join(msg, client, handle);
    this.acknowledge(msg.id);
  }

  /**
   * Acknowledged in batches (without a lane each descriptor takes a turn of the event loop here, so
   * one write per turn would be one per tunnel): every ACK_BATCH tunnels, or ACK_MS after the first.
   */
  private acknowledge(id: number): void {
    this.joinedIds.push(id);
    if (this.joinedIds.length >= ACK_BATCH) this.flush();
    else if (this.joinedIds.length === 1) this.ackTimer = setTimeout(this.flush, ACK_MS);
  }

  private takeLane(handle: NativeTcpHandle | null): void {
    if (handle === null) return;
    this.closeLane();
    const fd = handleFd(handle);
    const lane = fd === null ? null : FdLane.adopt(fd, () => handle.close());
    if (lane === null || lane instanceof Error) {
      // (Not expected: the predecessor made it, so koffi loads here too.) Its batches are lost.
      handle.close();
      this.lane = null;
      return;
    }
    this.lane = lane;
  }

  /**
   * The channel ended: a lane message whose line never came (the predecessor died between the two)
   * holds connections it had let go of. They are closed and counted lost here, as a half left
   * without its pair is.
   */
  private closeLane(): void {
    const lane = this.lane;
    if (lane === null) return;
    this.lane = null;
    for (let got = lane.receive(); typeof got !== 'number'; got = lane.receive()) {
      for (const fd of got.fds) closeSync(fd);
      if (got.fds.length > 0) this.lost(Math.ceil(got.fds.length / 2));
    }
    lane.close();
  }

  /**
   * A batch's line: its descriptors are the lane's next message, two per tunnel in the order of
   * `parts`. A tunnel whose descriptors did not both come (the kernel drops those it cannot give
   * at the descriptor limit) is closed and counted lost here; it is acknowledged all the same, so
   * that the predecessor does not count it again.
   */
  private joinBatch(parts: readonly EndpointPart[]): void {
    if (!Array.isArray(parts) || parts.length > LANE_BATCH) return this.onEnd(); // not our protocol
    const got = this.lane?.receive();
    this.laneBatches++;
    const fds = got === undefined || typeof got === 'number' ? [] : got.fds;
    parts.forEach((part, i) => {
      const client = fds[2 * i] === undefined ? null : handleOrClose(fds[2 * i]!);
      const endpoint = fds[2 * i + 1] === undefined ? null : handleOrClose(fds[2 * i + 1]!);
      if (client !== null && endpoint !== null) this.join(part, client, endpoint);
      else {
        client?.close();
        endpoint?.close();
        this.lost(1);
      }
      this.acknowledge(part.id);
    });
    // More descriptors than parts: not ours to keep.
    for (const fd of fds.slice(2 * parts.length)) closeSync(fd);
  }

  private readonly flush = (): void => {
    clearTimeout(this.ackTimer);
    const ids = this.joinedIds;
    this.joinedIds = [];
    if (ids.length > 0) this.channel.send({ t: 'joined', ids }, null);
  };

  private onEnd(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.flush();
    this.channel.close();
    this.closeLane();
    if (this.halves.size > 0) {
      for (const h of this.halves.values()) h.close();
      this.lost(this.halves.size);
      this.halves.clear();
    }
    this.ended();
  }
}

/** A received descriptor as a handle; closed (null) when it cannot be one. */
function handleOrClose(fd: number): NativeTcpHandle | null {
  const handle = connectedTcpHandle(fd);
  if (typeof handle !== 'number') return handle;
  closeSync(fd);
  return null;
}
