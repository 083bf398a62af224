// A worker process: runs the builtin data plane on listening sockets its supervisor bound and
// sent (it never binds one itself). Applies arrive as the driver contract across the process
// line: `prepare` is its BuiltinDriver's prepare (handles taken, not listening yet; runtimes
// built), then `commit` or `abort` ends that same prepared change. On a code upgrade it drains,
// handing idle keep-alive connections over (through the supervisor) to the new generation, whose
// workers take them over, and moving its tunnels (tcp-mode and upgraded connections) there too
// (tunnel-move.ts); the new generation's workers join them again.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { HostPort } from '../config/address.js';
import type { Config } from '../config/model.js';
import { diffConfigs, listenKeys, withLazyLists, type Plan } from '../control/plan.js';
import { BuiltinDriver } from '../dataplane/builtin/builtin-driver.js';
import { BindError, LISTEN_BACKLOG, type BoundSocket } from '../dataplane/builtin/listener-pool.js';
import type { PreparedChange } from '../dataplane/driver.js';
import { accessWriterFor, reopenAccessLogs } from '../observability/access-log.js';
import { createLogger } from '../observability/log.js';
import { collectProcessMetrics, startProcessMetrics } from '../observability/process-metrics.js';
import { ConfigDigest, type DigestStep } from './config-digest.js';
import { applyPatch, PatchMismatch, type ConfigPatch } from './config-patch.js';
import { StatusEncoder } from './status-delta.js';
import { ConnectionDrain, freezeForHandover } from './worker-drain.js';
import { TunnelMover } from './tunnel-move.js';
import { ENV_PREDECESSOR, ENV_SUCCESSOR, PredecessorChannel, SuccessorChannel } from './move-channel.js';
import { joinTunnel } from '../dataplane/builtin/tunnel-join.js';
import type { Tunnel } from '../dataplane/builtin/tunnel.js';
import { validTicketKeys } from '../dataplane/builtin/tls/ticket-keys.js';
import { handleFd, listenOnNativeHandle, sendWithHandle, socketFromHandle } from '../util/node-internals.js';
import { HitlessError } from '../errors.js';
import { machineMs } from '../util/machine-clock.js';
import { ENV_FAULT_FILE, ENV_GENERATION, ENV_WORKER_COUNT, type SupervisorMessage, type TcpHandle, type TunnelPart, type DirectMoves, type WorkerMessage, type WorkerRequest, type WorkerStatus, type WorkerStatusReply, type WorkerWants } from './messages.js';

const generation = Number(process.env[ENV_GENERATION] ?? 0);
const log = createLogger().child({ role: 'worker', generation });

if (!process.send) {
  process.stderr.write('hitless worker: must be started by the supervisor (hitless run --workers N)\n');
  process.exit(2);
}
const send = (msg: WorkerMessage, handle?: object, done?: (err: Error | null) => void): void => {
  if (!process.connected) return done?.(new Error('supervisor gone'));
  const callback = (err: Error | null): void => done?.(err);
  if (handle) sendWithHandle(process, msg, handle, callback);
  else process.send!(msg, undefined, undefined, callback);
};

const fault = readFault();
/** Test hook `stop-on-tunnel`, until this worker has tried it once (stopOnFirstTunnel). */
let stopOnTunnel = fault === 'stop-on-tunnel';
if (fault === 'crash') {
  log.error('test fault hook: crashing at startup');
  process.exit(70);
}

/** Handles received and not yet taken by the pool, by address. */
const handles = new Map<string, TcpHandle>();
/** Listening servers (the pool's), by address. */
const servers = new Map<string, Server>();
/** Every open connection (accepted here, or a tunnel moved here) and the address it was accepted on: what a drain walks. */
const connections = new Map<Socket | Tunnel, string>();
let current: Config | null = null;
/** The digest of `current`, computed here: what status reports and what a patch's base must be. */
let digest: ConfigDigest | null = null;
/** The data plane's prepared change, with the config it makes and that config's digest. */
interface Prepared {
  readonly change: PreparedChange;
  readonly config: Config;
  readonly digest: DigestStep;
}
let prepared: Prepared | null = null;
/** prepare, commit, abort and apply-patch run one at a time, in the order they arrive. */
let applies: Promise<unknown> = Promise.resolve();
/** Config changes asked of this worker (prepare, prepare-patch, apply-patch): reported in its status. */
let prepares = 0;
let drain: ConnectionDrain | null = null;
/** Moves this worker's tunnels to the next generation once it drains. */
let mover: TunnelMover | null = null;

/**
 * A refusal that asks the supervisor for the whole config instead of a patch (the reply's `wants`):
 * a signal between the two processes, never an error anyone sees.
 */
class NeedFullConfig extends Error {}

// Access logs are written here (each worker appends to the same files); max_connections is
// split between the workers of a generation, which share every listening socket.
const driver = new BuiltinDriver({ bind: takeHandle, accessWriters: accessWriterFor, connectionShares: Number(process.env[ENV_WORKER_COUNT] ?? 1) || 1 });

/**
 * The pool's binder: the handle the supervisor sent for this address (bound there, never
 * listened on by it). It listens here only when the apply commits, so a prepare that is aborted
 * (a refusal elsewhere, a validation) never accepts a connection on it.
 */
function takeHandle(server: Server, address: HostPort): BoundSocket {
  const handle = handles.get(address.key);
  if (!handle) throw new BindError(address.key, 'ENOHANDLE', `cannot listen on ${address.key}: the supervisor sent no socket for it`);
  handles.delete(address.key);
  return {
    listen: () => {
      // LISTEN_BACKLOG, not Node's 511: a wave of reconnecting clients (5,000 slowloris connections
      // coming back) overflows 511, and each dropped SYN costs its client a 1 s retransmit.
      listenOnNativeHandle(server, handle, LISTEN_BACKLOG, () => {});
      servers.set(address.key, server);
      // Registered after the pool's own listener, so the connection is already dispatched.
      server.on('connection', (socket: Socket) => {
        connections.set(socket, address.key);
        socket.on('close', forgetConnection);
      });
    },
    close: () => handle.close(),
    fd: () => handleFd(handle),
  };
}

/** One function for every socket (no closure per connection): 'close' is emitted once. */
function forgetConnection(this: Socket | Tunnel): void {
  connections.delete(this);
}

type Reply = { readonly value?: WorkerStatusReply; readonly configHash?: string };

/** Status replies are deltas of the previous one (status-delta.ts). */
const statusEncoder = new StatusEncoder();

async function handle(req: WorkerRequest): Promise<Reply> {
  switch (req.t) {
    case 'prepare':
      prepares++;
      return inOrder(async () => {
        await ready();
        const { config, hash } = req.snapshot;
        checkListening(listenKeys(config.services.values()));
        const computed = ConfigDigest.of(config);
        // Not a refusal: this worker reports its own digest, so status shows the disagreement.
        if (computed.value !== hash) log.error({ worker: computed.value.slice(0, 12), supervisor: hash.slice(0, 12) }, 'the config digest computed here differs from the supervisor\'s');
        // A whole config goes to a worker that starts, or that does not run the supervisor's
        // config: only this worker knows what it runs, so the plan is computed here.
        await prepare(config, diffConfigs(current, config), { value: computed.value, commit: () => (digest = computed) });
        return {};
      });
    case 'prepare-patch':
      prepares++;
      return inOrder(async () => {
        await ready();
        const next = fromPatch(req.patch);
        await prepare(next.config, next.plan, next.digest);
        return {};
      });
    case 'commit':
      return inOrder(() => {
        if (!prepared) throw new Error('commit without prepare');
        const next = prepared;
        prepared = null;
        return commit(next);
      });
    case 'apply-patch':
      prepares++;
      return inOrder(async () => {
        await ready();
        const next = fromPatch(req.patch);
        await prepare(next.config, next.plan, next.digest);
        const change = prepared!;
        prepared = null;
        return commit(change);
      });
    case 'abort':
      return inOrder(async () => {
        const change = prepared;
        prepared = null;
        await change?.change.abort();
        dropUnusedHandles();
        return {};
      });
    case 'overrides':
      await driver.setOverrides(req.table);
      return {};
    case 'status': {
      const processMetrics = req.process ? { at: Date.now(), families: await collectProcessMetrics() } : undefined;
      const { dataplane, ...rest } = workerStatus();
      return { value: { ...rest, dataplane: statusEncoder.encode(dataplane, req.have), ...(processMetrics ? { process: processMetrics } : {}) } };
    }
    default:
      throw new Error(`unknown request ${(req as { t: string }).t}`);
  }
}

function inOrder<T>(fn: () => Promise<T>): Promise<T> {
  const run = applies.then(fn);
  applies = run.catch(() => {});
  return run;
}

/** The data plane's prepare; what it prepared waits for commit or abort. */
async function prepare(config: Config, plan: Plan, step: DigestStep): Promise<void> {
  if (prepared) {
    // The supervisor ends every prepare it sends; one left over is given back, never committed.
    log.warn('a prepared config was neither committed nor aborted; aborting it');
    const stale = prepared;
    prepared = null;
    await stale.change.abort();
  }
  prepared = { change: await driver.prepare(config, plan), config, digest: step };
}

/**
 * The next config from a patch of the running one, with the plan the patch carries (the
 * Controller's; only its lists of every address and service are computed here, if ever read).
 * Refused (NeedFullConfig) when this worker does not run the patch's base.
 */
function fromPatch(patch: ConfigPatch): { readonly config: Config; readonly plan: Plan; readonly digest: DigestStep } {
  if (!current || !digest || digest.value !== patch.base) {
    throw new NeedFullConfig(`this worker runs config ${digest?.value.slice(0, 12) ?? '(none)'}, the patch is for ${patch.base.slice(0, 12)}`);
  }
  checkListening(listenKeys(patch.services));
  let next: ReturnType<typeof applyPatch>;
  try {
    next = applyPatch(current, patch);
  } catch (err) {
    if (err instanceof PatchMismatch) throw new NeedFullConfig(err.message);
    throw err;
  }
  const step = digest.next(next.changed, patch.removed, patch.top);
  if (step.value !== patch.hash) throw new NeedFullConfig(`the patched config's digest here is ${step.value.slice(0, 12)}, the supervisor's ${patch.hash.slice(0, 12)}`);
  return { config: next.config, plan: withLazyLists(patch.plan, next.config.services), digest: step };
}

/** Commits the prepared change (the swap) and makes its config the running one. */
async function commit(next: Prepared): Promise<Reply> {
  await next.change.commit();
  current = next.config;
  next.digest.commit();
  dropUnusedHandles();
  startMetricsSoon();
  return { configHash: next.digest.value };
}

let metricsScheduled = false;
/** The latest a worker of an upgrade starts its process metrics, whatever its predecessor does. */
const METRICS_LATEST_MS = 30_000;

/**
 * Process metrics (prom-client and its event-loop and GC monitors) load a second after the first
 * commit: not on the way to ready (a code upgrade waits for that), and not at the first scrape,
 * whose status request would then wait for the module load (and could time out under load). A
 * worker started by an upgrade loads them only once its predecessor's tunnels have all arrived:
 * the load blocks the event loop for 100-200 ms, and every tunnel on its way would be frozen that
 * much longer (bench:handover's worst pauses were this).
 */
function startMetricsSoon(): void {
  if (metricsScheduled) return;
  metricsScheduled = true;
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    setTimeout(() => void startProcessMetrics(), 1_000).unref();
  };
  if (!predecessor?.open) return start();
  void predecessor.done.then(start);
  setTimeout(start, METRICS_LATEST_MS).unref(); // a predecessor that hangs does not keep them off
}

async function ready(): Promise<void> {
  if (drain) throw new Error('this worker is draining');
  if (fault === 'hang') await new Promise(() => {}); // test hook: never listen, never report ready
}

/** Every address the next config serves must have a handle from the supervisor, or be listening already. */
function checkListening(keys: readonly string[]): void {
  const missing = keys.filter((k) => !handles.has(k) && !servers.get(k)?.listening);
  if (missing.length > 0) throw new Error(`no listening socket received for ${missing.join(', ')}`);
}

function workerStatus(): WorkerStatus {
  return { pid: process.pid, readAt: Date.now(), generation, configHash: digest?.value ?? null, rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed, openConnections: connections.size, prepares, direct: movesSoFar(), dataplane: driver.packedStatus() };
}

/** Handles for addresses the running config does not use (an aborted apply's) are closed. */
function dropUnusedHandles(): void {
  if (handles.size === 0) return; // the usual case: every handle sent was listened on
  const wanted = new Set(current ? listenKeys(current.services.values()) : []);
  for (const [key, h] of handles) {
    if (wanted.has(key)) continue;
    handles.delete(key);
    h.close();
  }
}

/** Takes over a connection handed over by a draining worker: it continues here as if just accepted. */
function takeOver(key: string, raw: object): void {
  const socket = socketFromHandle(raw);
  const server = servers.get(key);
  if (!server?.listening || drain) {
    socket.destroy();
    return;
  }
  server.emit('connection', socket);
}

/** Client halves of tunnels being moved here through the supervisor, until their endpoint half (the next message) arrives. */
const tunnelHalves = new Map<number, TcpHandle>();

/** Tunnels moved over the move channels: joined here, lost (reported cumulatively: status and reports agree). */
const channelMoves = { joined: 0, lost: 0 };
/** Pauses of the tunnels joined lately, sent to the supervisor a few times a second. */
let joinedPauses: number[] = [];
let reportScheduled = false;
/** The lost count the supervisor last heard: a report goes when it grew. */
let reportedLost = 0;
const MOVE_REPORT_MS = 50;

function reportMovesSoon(): void {
  if (reportScheduled) return;
  reportScheduled = true;
  setTimeout(reportMoves, MOVE_REPORT_MS).unref();
}

function reportMoves(): void {
  reportScheduled = false;
  const pausesMs = joinedPauses;
  joinedPauses = [];
  const sentDirect = mover?.takeSentDirect() ?? 0;
  const sofar = movesSoFar();
  if (pausesMs.length > 0 || sentDirect > 0 || sofar.lost > reportedLost) send({ t: 'tunnels-joined', pausesMs, sentDirect, direct: sofar });
  reportedLost = sofar.lost;
  // While this worker is still moving its own, the supervisor keeps hearing that it is.
  if (sentDirect > 0 || (mover?.pending ?? 0) > 0) reportMovesSoon();
}

function movesSoFar(): DirectMoves {
  return { joined: channelMoves.joined, lost: channelMoves.lost + (mover?.lost ?? 0) };
}

/** Through the supervisor: the two halves come as two messages. */
function joinRelayed(msg: TunnelPart, raw: object): void {
  if (msg.part === 'client') {
    tunnelHalves.get(msg.id)?.close();
    tunnelHalves.set(msg.id, raw as TcpHandle);
    return;
  }
  const client = tunnelHalves.get(msg.id);
  tunnelHalves.delete(msg.id);
  if (!client) {
    log.error({ id: msg.id }, 'a moved tunnel arrived without its client half; closing its endpoint half');
    return (raw as TcpHandle).close();
  }
  joinMoved(msg, client, raw as TcpHandle);
}

/**
 * Joins a tunnel moved here from a draining worker: it continues on this process's runtime of
 * its service. Joined even while this worker drains (it was sent before the drain began): the
 * drain moves it on like its own.
 */
function joinMoved(msg: Extract<TunnelPart, { part: 'endpoint' }>, client: TcpHandle, endpoint: TcpHandle): void {
  const tunnel = joinTunnel(driver.serviceRuntime(msg.record.service), msg.record, msg.ends, client, endpoint);
  connections.set(tunnel, msg.key);
  driver.adoptConnection(msg.key, tunnel);
  tunnel.on('close', forgetConnection);
  // (A sender of an earlier version sends only the wall clock.)
  joinedPauses.push(typeof msg.frozenAtMachineMs === 'number' ? machineMs() - msg.frozenAtMachineMs : Date.now() - msg.frozenAt);
  reportMovesSoon();
}

/** This worker's end of its own move channel: its tunnels go to its successor over it. */
const successor = openSuccessorChannel();
/** The end of its predecessor's move channel, when an upgrade started this worker. */
const predecessor = openPredecessorChannel();

function openSuccessorChannel(): SuccessorChannel | null {
  const fd = Number(process.env[ENV_SUCCESSOR]);
  if (!Number.isInteger(fd) || fd <= 2) return null;
  return new SuccessorChannel(
    fd,
    (id) => mover?.joined(id),
    (ids) => {
      log.warn({ tunnels: ids.length }, 'the successor is gone with tunnels sent to it and not yet joined');
      mover?.lostOnChannel(ids);
      reportMovesSoon();
    },
  );
}

function openPredecessorChannel(): PredecessorChannel | null {
  const fd = Number(process.env[ENV_PREDECESSOR]);
  if (!Number.isInteger(fd) || fd <= 2) return null;
  return new PredecessorChannel(
    fd,
    (part, client, endpoint) => {
      channelMoves.joined++;
      joinMoved(part, client as TcpHandle, endpoint as TcpHandle);
      if (stopOnTunnel) stopOnFirstTunnel();
    },
    (n) => {
      log.warn({ tunnels: n }, 'the predecessor is gone with tunnel halves sent here alone; closed');
      channelMoves.lost += n;
      reportMovesSoon();
    },
  );
}

function startDrain(timeoutMs: number, handOverIdle: boolean, direct: boolean): void {
  if (drain) {
    drain.shorten(timeoutMs);
    return;
  }
  for (const server of servers.values()) server.close();
  for (const h of handles.values()) h.close();
  handles.clear();
  if (!direct || !handOverIdle) successor?.close();
  mover = handOverIdle ? new TunnelMover(send, direct && successor?.open ? successor : null) : null;
  // The predecessor sends nothing more once told, and says `end` when all it sent is joined: this
  // drain ends only after that, so no tunnel on its way here is left behind.
  predecessor?.draining();
  drain = new ConnectionDrain(connections, timeoutMs, handOverIdle ? handOver : null, mover, () => predecessor?.open === true);
  void drain.done.then((result) => {
    reportMoves();
    // `handedOff`: the log field's name since it existed (log queries use it).
    log.info({ handedOff: result.handedOver, moved: result.moved, stayed: result.stayed, closedAtTimeout: result.closedAtTimeout }, 'drained');
    send({ t: 'drained', ...result, unconfirmed: successor?.unconfirmed ?? 0, final: workerStatus() }, undefined, () => process.exit(0));
    setTimeout(() => process.exit(0), 1_000).unref();
  });
}

function handOver(socket: Socket, key: string): void {
  const raw = freezeForHandover(socket);
  if (!raw) return void socket.destroy();
  // Our copy of the descriptor closes only once the message (and a dup of it) is on its way.
  send({ t: 'conn', key }, raw, () => socket.destroy());
}

process.on('message', (msg: SupervisorMessage, raw?: object) => {
  switch (msg.t) {
    case 'listener':
      if (raw) handles.get(msg.key)?.close();
      if (raw) handles.set(msg.key, raw as TcpHandle);
      return;
    case 'conn':
      if (raw) takeOver(msg.key, raw);
      return;
    case 'tunnel':
      if (raw) joinRelayed(msg, raw);
      return;
    case 'tunnel-passed':
      mover?.passed(msg.id);
      return;
    case 'drain':
      startDrain(msg.timeoutMs, msg.handOver, msg.direct === true);
      return;
    case 'stop':
      // Unused handles keep the socket listening too: a stopped hitless refuses new connections.
      for (const h of handles.values()) h.close();
      handles.clear();
      void driver.close(msg.timeoutMs).then(() => process.exit(0));
      return;
    case 'reopen-logs':
      reopenAccessLogs();
      return;
    case 'ticket-keys':
      if (validTicketKeys(msg.keys)) driver.setTicketKeys(msg.keys);
      else log.error('ticket keys from the supervisor are malformed: TLS sessions resume only on this worker');
      return;
    default:
      handle(msg).then(
        (reply) => send({ t: 'reply', id: msg.id, ok: true, ...reply }),
        (err: Error) => send({ t: 'reply', id: msg.id, ok: false, error: err.message, ...refusal(err) }),
      );
  }
});

/** What a refusal says beside its message: the error's registered code, or what to send instead. */
function refusal(err: Error): { code?: string; wants?: WorkerWants } {
  if (err instanceof NeedFullConfig) return { wants: 'full-config' };
  return err instanceof HitlessError ? { code: err.code } : {};
}

// Without a supervisor nobody can upgrade or stop us, and we would hold the ports: drain and go.
process.on('disconnect', () => {
  log.warn('supervisor gone: draining and exiting');
  startDrain(5_000, false, false);
});

/**
 * Test hook: a new version that hangs in the middle of a move. The first worker of the generation
 * to take a moved tunnel claims the fault (renames its file, so only one does) and stops itself
 * (SIGSTOP) until someone sends it SIGCONT.
 */
function stopOnFirstTunnel(): void {
  stopOnTunnel = false; // one try: the fault's file is claimed by this worker or by another
  const file = process.env[ENV_FAULT_FILE]!;
  try {
    renameSync(file, `${file}.claimed`);
  } catch {
    return; // another worker claimed it
  }
  log.warn('test fault hook: stopping (SIGSTOP) at the first moved tunnel');
  process.kill(process.pid, 'SIGSTOP');
}

function readFault(): string | null {
  const file = process.env[ENV_FAULT_FILE];
  if (!file || !existsSync(file)) return null;
  return readFileSync(file, 'utf8').trim();
}
