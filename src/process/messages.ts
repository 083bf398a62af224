// The IPC protocol between the supervisor and its workers (child_process IPC, 'advanced'
// serialization so a Config with its Maps crosses as it is). Handles travel beside a message:
// listening sockets supervisor → worker; idle keep-alive connections are handed over worker →
// supervisor → worker, where they are taken over.
import type { ConfigSnapshot } from '../config/model.js';
import type { ConfigPatch } from './config-patch.js';
import type { PackedDataplane } from '../dataplane/builtin/packed-status.js';
import type { StatusDelta } from './status-delta.js';
import type { MetricFamily } from '../observability/metrics.js';
import type { OverrideTable } from '../dataplane/endpoint-override.js';
import type { NativeTcpHandle } from '../util/node-internals.js';
import type { TicketKeys } from '../dataplane/builtin/tls/ticket-keys.js';
import type { TunnelEnds, TunnelRecord } from '../dataplane/builtin/tunnel.js';

/** A libuv TCP handle as child_process passes it ("net.Native"); opaque outside util/node-internals.ts. */
export type TcpHandle = NativeTcpHandle;

/**
 * Requests carry an id; the worker answers each with one `reply` of the same id. prepare,
 * prepare-patch, commit and abort are the driver contract (dataplane/driver.ts) across the
 * process line: a prepare is the worker's BuiltinDriver.prepare, and the next commit or abort
 * ends that same prepared change.
 */
export type WorkerRequest =
  /**
   * Prepare (phase 1) with the whole config: every listen address has a handle; new ones are
   * taken (not listened on), runtimes built. The worker computes the plan against what it runs.
   * Sent to a new worker (start, restart, upgrade) and to one that cannot patch.
   */
  | { readonly t: 'prepare'; readonly id: number; readonly snapshot: ConfigSnapshot }
  /**
   * Prepare (phase 1) with a patch of the running config, which carries the Controller's plan:
   * refused, wanting the full config (`wants: 'full-config'`), when this worker does not run the
   * patch's base; only the patch's services' addresses are checked.
   */
  | { readonly t: 'prepare-patch'; readonly id: number; readonly patch: ConfigPatch }
  /**
   * Prepare and commit in one step, for a patch that only changes endpoint lists (nothing in it
   * can be refused for the config's sake); refused wanting the full config, changing nothing, when
   * this worker does not run the patch's base. The reply carries the digest now running.
   */
  | { readonly t: 'apply-patch'; readonly id: number; readonly patch: ConfigPatch }
  /** Commit (phase 2): the prepared change's commit (the swap, the new sockets listen); the reply carries the digest now running. */
  | { readonly t: 'commit'; readonly id: number }
  /** Abort: the prepared change's abort (what it took is released), and the handles only it needed closed. */
  | { readonly t: 'abort'; readonly id: number }
  /**
   * Status, as a delta of the reply numbered `have` when the worker still holds it (status-delta.ts);
   * with `process`, the worker's process metrics too (only when someone looks: they cost a few ms).
   */
  | { readonly t: 'status'; readonly id: number; readonly have: number | null; readonly process?: boolean }
  /**
   * The whole table of endpoint overrides (endpoint-override.ts), to use from now on and for every
   * later config. Sent to a new worker before its first prepare, and to every worker on a change.
   */
  | { readonly t: 'overrides'; readonly id: number; readonly table: OverrideTable };

/**
 * One half of a tunnel moving to the next generation (tunnel-move.ts): the client socket's handle
 * beside the first message, the endpoint socket's beside the second, which carries what the tunnel
 * is. Both cross worker → supervisor → worker one after the other on the same channels; `id`
 * pairs them (numbered by each sender). `frozenAtMachineMs` (util/machine-clock.ts): when the old
 * worker stopped reading it, for the pause the connection saw; `frozenAt` (Unix ms) is the same
 * for a receiver of an earlier version (a rollback), which reads only that.
 */
export type TunnelPart =
  | { readonly t: 'tunnel'; readonly id: number; readonly part: 'client' }
  | { readonly t: 'tunnel'; readonly id: number; readonly part: 'endpoint'; readonly key: string; readonly record: TunnelRecord; readonly ends: TunnelEnds; readonly frozenAt: number; readonly frozenAtMachineMs?: number };

export type SupervisorMessage =
  | WorkerRequest
  /** A tunnel moving here from a draining worker (two messages, a handle beside each). */
  | TunnelPart
  /** To the draining worker: its tunnel `id` has been passed on (or given up): the next may go. */
  | { readonly t: 'tunnel-passed'; readonly id: number }
  /** A listening socket for `key`; sent before the prepare that needs it. */
  | { readonly t: 'listener'; readonly key: string }
  /** An idle keep-alive connection handed over from a draining worker, accepted on `key`. */
  | { readonly t: 'conn'; readonly key: string }
  /** Stop accepting; hand idle connections over (when `handOver`), let the rest finish for `timeoutMs`. */
  /** `direct`: tunnels move straight to the successor over the move channel (move-channel.ts), not through the supervisor. */
  | { readonly t: 'drain'; readonly timeoutMs: number; readonly handOver: boolean; readonly direct?: boolean }
  /** Shutdown: stop accepting, let connections finish for `timeoutMs`, exit. */
  | { readonly t: 'stop'; readonly timeoutMs: number }
  /** SIGHUP reached the supervisor: reopen access log files (logrotate). */
  | { readonly t: 'reopen-logs' }
  /**
   * TLS session ticket keys, the same for every worker and the next generation, so that a session
   * resumes whichever worker accepts it. Sent before a new worker's first prepare and on rotation.
   */
  | { readonly t: 'ticket-keys'; readonly keys: TicketKeys };

/**
 * A worker's counts of tunnels that moved straight between workers (move-channel.ts), since it
 * started: `joined` here from its predecessor; `lost`: sent by it and never joined (its successor
 * died with them) or halves that came here alone (its predecessor died between the two).
 */
export interface DirectMoves {
  readonly joined: number;
  readonly lost: number;
}

export interface WorkerStatus {
  readonly pid: number;
  /** Unix ms at which the worker read these counters (rates are computed over these times). */
  readonly readAt: number;
  readonly generation: number;
  readonly configHash: string | null;
  readonly rssBytes: number;
  /** V8 heap in use (process.memoryUsage().heapUsed): with rssBytes, how memory evolves. */
  readonly heapUsedBytes: number;
  readonly openConnections: number;
  /**
   * Config changes this worker was asked to prepare since it started (prepare, prepare-patch, and
   * apply-patch, which prepares and commits in one step): counted by the worker itself, so status
   * shows what reached it, not what the supervisor meant to send.
   */
  readonly prepares: number;
  /** Tunnels moved over the move channels, counted here since this worker started. */
  readonly direct?: DirectMoves;
  /** Endpoints packed (packed-status.ts): this crosses IPC every few seconds. */
  readonly dataplane: PackedDataplane;
}

/** A status reply: the data plane as a delta of an earlier reply, and the process metrics when asked. */
export type WorkerStatusReply = Omit<WorkerStatus, 'dataplane'> & { readonly dataplane: StatusDelta; readonly process?: { readonly at: number; readonly families: MetricFamily[] } };

export type WorkerMessage =
  | { readonly t: 'reply'; readonly id: number; readonly ok: true; readonly value?: WorkerStatusReply; readonly configHash?: string }
  /**
   * A refusal: `code` is the registered HITLESS_ERR_* of the worker's error when it has one
   * (errors.ts); `wants` asks for something else instead (the whole config, for a patch of a
   * config this worker does not run).
   */
  | { readonly t: 'reply'; readonly id: number; readonly ok: false; readonly error: string; readonly code?: string; readonly wants?: WorkerWants }
  /** Handing an idle connection (the handle beside it) over to the next generation. */
  | { readonly t: 'conn'; readonly key: string }
  /** Moving a tunnel to the next generation (two messages, a handle beside each). */
  | TunnelPart
  /** Tunnels joined here lately, each with the pause it saw (ms from freeze to reading again here). */
  | {
      readonly t: 'tunnels-joined';
      readonly pausesMs: readonly number[];
      /** Tunnels sent over the move channel lately (the sender is moving: its drain's kill waits). */
      readonly sentDirect?: number;
      /** This worker's move-channel counts so far (the supervisor never sees those moves itself). */
      readonly direct?: DirectMoves;
    }
  /**
   * Every connection of a draining worker has ended (or was closed at the timeout); it exits next.
   * `moved`: tunnels moved to the next generation; `stayed`: tunnels that could not be (drained here).
   */
  | {
      readonly t: 'drained';
      readonly handedOver: number;
      readonly moved: number;
      readonly stayed: number;
      readonly closedAtTimeout: number;
      /** Tunnels sent straight to the successor that it had not acknowledged yet (it hangs): it holds them now. */
      readonly unconfirmed?: number;
      readonly final: WorkerStatus;
    };

/** What a refusal may ask for instead: `full-config`, this worker cannot apply the patch (another base). */
export type WorkerWants = 'full-config';

/** The worker's generation number and the fault hook travel in its environment. */
export const ENV_GENERATION = 'HITLESS_WORKER_GENERATION';
/** Workers per generation: each enforces its share of a service's max_connections. */
export const ENV_WORKER_COUNT = 'HITLESS_WORKER_COUNT';
/**
 * Test-only hook (documented in src/process/README.md): when this env var names a file that
 * exists when a worker starts, the file's content decides the fault: "crash" exits at startup,
 * "hang" never reports ready, "stop-on-tunnel" stops (SIGSTOP) at the first tunnel moved to it.
 * Simulates a broken new version without building one.
 */
export const ENV_FAULT_FILE = 'HITLESS_TEST_WORKER_FAULT_FILE';
