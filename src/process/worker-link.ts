// The supervisor's side of one worker process: fork, request/reply over IPC with timeouts, the
// handles it was given, and how it ended. Replies never outlive the process: an exit rejects
// every pending request at once, so a crash mid-apply is seen immediately, not at a timeout.
import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from '../observability/log.js';
import type { MetricFamily } from '../observability/metrics.js';
import { StatusDecoder } from './status-delta.js';
import { ENV_GENERATION, ENV_WORKER_COUNT, type SupervisorMessage, type TcpHandle, type WorkerMessage, type WorkerStatus, type WorkerWants } from './messages.js';
import { freezeSocket, sendWithHandle } from '../util/node-internals.js';
import type { Socket } from 'node:net';
import { ENV_PREDECESSOR, ENV_SUCCESSOR, PREDECESSOR_FD, SUCCESSOR_FD } from './move-channel.js';
import { ErrorCodes, HitlessError, type ErrorCode } from '../errors.js';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly at: number;
}

type Req = SupervisorMessage & { id: number };
type RequestBody = Req extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export type WorkerReply = Extract<WorkerMessage, { t: 'reply'; ok: true }>;

/**
 * A worker's refusal: `code` is the worker's own registered code (a bind failure is
 * HITLESS_ERR_BIND_FAILED wherever it happened), HITLESS_ERR_DATAPLANE_REJECTED when it gave none;
 * `wants` when it asks for something instead (the whole config, for a patch it cannot apply).
 */
export class WorkerRefusal extends HitlessError {
  constructor(
    message: string,
    code?: string,
    readonly wants?: WorkerWants,
  ) {
    super(isErrorCode(code) ? code : ErrorCodes.DATAPLANE_REJECTED, message);
    this.name = 'WorkerRefusal';
  }
}

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCodes));

function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && CODES.has(code);
}

/**
 * A handle not taken within this long means the worker is not reading its channel (stopped,
 * hung, or its event loop blocked that long); a healthy one takes each within milliseconds.
 */
const HANDLE_STALL_MS = 500;

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class WorkerLink {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  state: WorkerState = 'starting';
  /** Addresses whose listening handle this worker holds (those of the config it committed). */
  keys = new Set<string>();
  /** The config digest it runs: what it reported when it committed last. */
  configHash: string | null = null;
  /** Configs it committed, by how they crossed IPC: as a patch of its own, or whole. */
  readonly committed = { patch: 0, whole: 0 };
  /**
   * What its last commit received: a patch (services sent whole, services removed, and endpoints
   * sent as deltas of services that changed only in their endpoints) or the whole config.
   */
  lastCommit: { readonly how: 'patch' | 'whole'; readonly services: number; readonly removed: number; readonly endpointChanges: number } | null = null;
  lastStatus: WorkerStatus | null = null;
  /** Its process metrics as last collected (asked only when someone looks), and when. */
  processMetrics: { readonly at: number; readonly families: MetricFamily[] } | null = null;
  /** Rebuilds its status from the deltas it replies with. */
  readonly statusDecoder = new StatusDecoder();
  exit: WorkerExit | null = null;
  /** Set before the supervisor stops or replaces it: its exit is not a crash. */
  expectedExit = false;
  /** When this worker last sent a tunnel half (it is moving its tunnels): a drain's kill waits while it does. */
  lastMoveAt = 0;
  /** When anything last came from this worker (a message, a reply): a stopped or hung one goes silent. */
  lastHeardAt = Date.now();
  /** False once a request to it (status, every 2 s) went unanswered in its time; true again at anything it sends. */
  responding = true;
  /**
   * Handles sent to it and not yet taken, with when each was sent (child_process waits for each
   * one's acknowledgement before it writes the next), and how to fail the send.
   */
  private readonly handlesOut = new Map<number, { readonly sentAt: number; readonly fail: (err: Error) => void }>();
  private nextHandle = 1;
  /**
   * The other end of this worker's move channel (move-channel.ts), held for the worker that
   * succeeds it at an upgrade, which inherits it; never read here. Closed once this worker drains
   * or exits: a successor started later (after a failed upgrade) can still get it until then.
   */
  private successorEnd: Socket | null;
  /** The worker that inherited `successorEnd`, once one did. */
  successor: WorkerLink | null = null;
  readonly exited: Promise<WorkerExit>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    script: string,
    readonly generation: number,
    readonly slot: number,
    private readonly log: Logger,
    onMessage: (link: WorkerLink, msg: WorkerMessage, handle: unknown) => void,
    workerCount = 1,
    env: NodeJS.ProcessEnv = process.env,
    /** The worker of the previous generation in this slot (a code upgrade): its tunnels come straight here. */
    predecessor: WorkerLink | null = null,
  ) {
    const inherited = predecessor?.alive ? predecessor.successorEnd : null;
    // SUCCESSOR_FD: a socketpair (libuv makes 'pipe' stdio one), this worker's end of its own move
    // channel; PREDECESSOR_FD: the predecessor's channel's other end.
    this.child = fork(script, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe', ...(inherited ? [inherited] : [])],
      env: {
        ...workerMalloc(env),
        [ENV_GENERATION]: String(generation),
        [ENV_WORKER_COUNT]: String(workerCount),
        [ENV_SUCCESSOR]: String(SUCCESSOR_FD),
        ...(inherited ? { [ENV_PREDECESSOR]: String(PREDECESSOR_FD) } : {}),
      },
    });
    if (inherited && predecessor) predecessor.successor = this;
    // child_process starts reading its end of a 'pipe': stopped at once (nothing is written to it
    // before a successor holds it too, and what the worker writes then is for the successor).
    this.successorEnd = (this.child.stdio[SUCCESSOR_FD] as Socket | null | undefined) ?? null;
    if (this.successorEnd) {
      freezeSocket(this.successorEnd);
      this.successorEnd.pause();
      this.successorEnd.on('error', () => {});
    }
    this.child.on('message', (msg: WorkerMessage, handle: unknown) => {
      this.lastHeardAt = Date.now();
      this.responding = true;
      if (msg.t === 'reply') this.settle(msg);
      else onMessage(this, msg, handle);
    });
    // A send to a worker that just died must not take the supervisor with it.
    this.child.on('error', (err) => this.log.warn({ err: err.message, pid: this.pid }, 'worker IPC error'));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        this.state = 'exited';
        this.releaseSuccessorEnd();
        // child_process drops the handles still queued for a dead child without a word: their
        // sends fail here, so that whoever sent them closes its copies and counts them.
        for (const { fail } of this.handlesOut.values()) fail(new Error(`worker ${this.pid} exited (${signal ?? `code ${code}`}) before it took the handle`));
        this.handlesOut.clear();
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`worker ${this.pid} exited (${signal ?? `code ${code}`})`));
          this.pending.delete(id);
        }
        resolve(this.exit);
      }),
    );
  }

  /**
   * Whether this worker's tunnels can move straight to its successor: it inherited the channel,
   * is ready and alive. The supervisor's copy is closed from here on (this worker drains).
   */
  directToSuccessor(): boolean {
    this.releaseSuccessorEnd();
    const s = this.successor;
    return s !== null && s.alive && s.state === 'ready';
  }

  private releaseSuccessorEnd(): void {
    this.successorEnd?.destroy();
    this.successorEnd = null;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  request(body: RequestBody, timeoutMs: number): Promise<WorkerReply> {
    if (!this.alive || !this.child.connected) return Promise.reject(new Error(`worker ${this.pid} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // Stopped, hung, or its event loop blocked that long: status says so until it speaks again.
        if (this.alive) this.responding = false;
        reject(new Error(`worker ${this.pid} did not answer ${body.t} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ ...body, id } as Req, (err: Error | null) => {
        if (err) this.settle({ t: 'reply', id, ok: false, error: err.message });
      });
    });
  }

  /** Sends a message with a handle beside it; resolves once it is written (the fd is duplicated). */
  sendWithHandle(msg: SupervisorMessage, handle: TcpHandle | object): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.alive || !this.child.connected) return reject(new Error(`worker ${this.pid} is not running`));
      const seq = this.nextHandle++;
      this.handlesOut.set(seq, { sentAt: Date.now(), fail: reject });
      sendWithHandle(this.child, msg, handle, (err) => {
        this.handlesOut.delete(seq);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Handles sent to this worker that wait for it to take them. */
  get handlesWaiting(): number {
    return this.handlesOut.size;
  }

  /**
   * Whether this worker stopped taking handles: one has waited for it over HANDLE_STALL_MS. A
   * stopped (SIGSTOP) or hung worker never acknowledges a handle, and child_process holds every
   * later one for it: connections and tunnels passed on go to the others (connection-handover.ts).
   */
  handlesStalled(now = Date.now()): boolean {
    for (const { sentAt } of this.handlesOut.values()) return now - sentAt >= HANDLE_STALL_MS; // the oldest (Map keeps order)
    return false;
  }

  post(msg: SupervisorMessage): void {
    if (this.alive && this.child.connected) this.child.send(msg, (err: Error | null) => void err);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) this.child.kill(signal);
  }

  private settle(msg: Extract<WorkerMessage, { t: 'reply' }>): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg);
    else p.reject(new WorkerRefusal(msg.error, msg.code, msg.wants));
  }
}

/**
 * glibc gives every thread that allocates its own malloc arena and rarely returns their free
 * space: V8's background threads (compilation, garbage collection) make a long-running process's
 * RSS creep by tens of MB while its heap stays flat (bench:memory). Two arenas keep it flat at no
 * measurable cost, so workers get MALLOC_ARENA_MAX=2 unless the environment already says
 * otherwise; the supervisor reads it from its own environment (docs/operations.md).
 */
function workerMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.MALLOC_ARENA_MAX === undefined ? { ...env, MALLOC_ARENA_MAX: '2' } : env;
}
