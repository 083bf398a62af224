// The builtin (Node) data plane. prepare() binds every new address (not yet listening) and builds
// the new services' runtimes; commit() swaps the routing table in one synchronous step, starts the
// new sockets listening, then releases what only the old state held; abort() closes what
// prepare bound and forgets what its builds added to the state registry.
import type { Socket } from 'node:net';
import type { OpenConnection } from '../open-connection.js';
import type { Config } from '../../config/model.js';
import type { Plan } from '../plan-types.js';
import { ApplyError, ErrorCodes } from '../../errors.js';
import type { AccessWriterFactory } from '../access-record.js';
import type { ApplyReport, DataplaneStatus, Driver, EndpointStatus, ListenerStatus, PreparedChange, ServiceStatus } from '../driver.js';
import { PreparedSlot } from '../prepared-change.js';
import { packEndpoints, type PackedDataplane, type PackedService } from './packed-status.js';
import { describeCheckFailure } from './health/check-failure.js';
import { BindError, ListenerPool, type Binder, type PooledListener } from './listener-pool.js';
import type { ServiceRuntime } from './service-runtime.js';
import { buildServiceRuntime, type RuntimeBuild } from './runtime-build.js';
import { StateRegistry, type CreatedStates } from './state-registry.js';
import { proxyTcpConnection } from './tcp-proxy.js';
import { HttpFrontend } from './http/http-frontend.js';
import { ActiveHealthChecks } from './health/active-health.js';
import { changedServices, EMPTY_OVERRIDES, type OverrideTable } from '../endpoint-override.js';
import { overlayServiceRuntime } from './runtime-overlay.js';
import { TlsTermination, type TlsStep } from './tls/tls-termination.js';
import { upstreamTlsStatus } from './tls/upstream-tls.js';
import type { TicketKeys } from './tls/ticket-keys.js';

/**
 * The running state. Its maps change only inside commit()'s synchronous swap step, after
 * everything that can fail is done (in prepare), so no connection ever sees half an apply.
 */
interface RunningState {
  readonly services: Map<string, ServiceRuntime>;
  /** Listen address → the service runtime new connections on it go to. */
  readonly routes: Map<string, ServiceRuntime>;
  /** The pool reference the running state holds on each address. */
  readonly listeners: Map<string, PooledListener>;
}

export interface BuiltinDriverOptions {
  readonly bind?: Binder;
  readonly accessWriters?: AccessWriterFactory;
  /**
   * How many processes accept on the same listening sockets (a supervisor's workers): each one
   * enforces ceil(max_connections / shares), so the whole stays within about max_connections.
   */
  readonly connectionShares?: number;
}

export class BuiltinDriver implements Driver {
  readonly name = 'builtin';
  private readonly pool: ListenerPool;
  private readonly registry = new StateRegistry();
  private readonly health = new ActiveHealthChecks();
  /** The HTTP parser side of each listening address in http mode, kept across applies. */
  private readonly frontends = new Map<string, HttpFrontend>();
  private readonly current: RunningState = { services: new Map(), routes: new Map(), listeners: new Map() };
  private closing: Promise<void> | null = null;
  /** Endpoint overrides (endpoint-override.ts), folded into every runtime built. */
  private overrides: OverrideTable = EMPTY_OVERRIDES;
  private readonly slot = new PreparedSlot('builtin');
  /** TLS termination of the services with tls: (secure contexts by service, ticket keys). */
  private readonly tls = new TlsTermination();

  private readonly accessWriters: AccessWriterFactory | undefined;
  private readonly connectionShares: number;

  /**
   * `bind`: how listening sockets are opened (default: bind them here; a worker gets them from its
   * supervisor). `accessWriters`: where services' access logs go (none: access_log is ignored).
   */
  constructor(options: BuiltinDriverOptions = {}) {
    this.pool = new ListenerPool((socket, listener) => this.accept(socket, listener), options.bind);
    this.accessWriters = options.accessWriters;
    this.connectionShares = Math.max(1, Math.floor(options.connectionShares ?? 1));
  }

  private accept(socket: Socket, listener: PooledListener): void {
    const runtime = this.current.routes.get(listener.key);
    if (!runtime) {
      // Only possible in the instant between a release and the socket's close: refuse cleanly.
      socket.destroy();
      return;
    }
    // TLS: the handshake first (tls/tls-termination.ts), then the decrypted socket is served
    // like a plain one, by the service as it is once the handshake is done.
    if (runtime.config.tls) return this.acceptTls(socket, listener.key, runtime);
    this.serve(socket, listener.key, runtime);
  }

  /**
   * max_connections is checked here, before any handshake work: a connection counts toward it
   * from accept, handshake included, so a flood of handshakes that never finish costs no more
   * than the cap (the check after the handshake, in serve, stays for a cap lowered meanwhile).
   */
  private acceptTls(socket: Socket, key: string, runtime: ServiceRuntime): void {
    const state = runtime.state;
    if (runtime.maxConnections !== null && state.clientConnections(runtime.config.mode) >= runtime.maxConnections) {
      // Refused as a plain connection over the cap is (a FIN, counted as rejected). What the
      // client sent (its ClientHello) is read only to be dropped, so its FIN closes the socket; a
      // client that never closes its side is cut off after timeouts.handshake.
      state.rejected++;
      socket.on('error', () => {});
      socket.setTimeout(runtime.config.timeouts.handshake, () => socket.destroy());
      socket.end();
      socket.resume();
      return;
    }
    state.handshaking++;
    let handshaking = true;
    // Once: when the handshake is done (before serve counts it as open) or the connection closes.
    const done = (): void => {
      if (!handshaking) return;
      handshaking = false;
      state.handshaking--;
    };
    socket.once('close', done);
    this.tls.accept(socket, runtime.config, (secure) => {
      done();
      this.serveSecured(secure, key);
    });
  }

  private serve(socket: Socket, key: string, runtime: ServiceRuntime): void {
    if (runtime.config.mode === 'tcp') proxyTcpConnection(socket, runtime);
    else this.frontendFor(key, runtime).accept(socket);
  }

  private serveSecured(socket: Socket, key: string): void {
    const runtime = this.current.routes.get(key);
    // The listener was released during the handshake: as for a connection accepted then.
    if (!runtime) return void socket.destroy();
    this.serve(socket, key, runtime);
  }

  /** Session ticket keys from the supervisor (shared by every worker and the next generation). */
  setTicketKeys(keys: TicketKeys): void {
    this.tls.setTicketKeys(keys);
  }

  /** Rotates the ticket keys this process holds (--workers 0); no-op when a supervisor sets them. */
  rotateTicketKeys(): void {
    this.tls.rotateTicketKeys();
  }

  /**
   * The frontend new connections on `key` go to. It is replaced only when a setting Node fixes at
   * creation changes (max header size); connections already on the old one stay with it.
   */
  private frontendFor(key: string, runtime: ServiceRuntime): HttpFrontend {
    const existing = this.frontends.get(key);
    if (existing && existing.maxHeaderBytes === runtime.config.limits.maxHeaderBytes) return existing;
    existing?.retire();
    const frontend = new HttpFrontend(runtime.config.limits.maxHeaderBytes, () => this.current.routes.get(key), runtime);
    this.frontends.set(key, frontend);
    return frontend;
  }

  /**
   * Binds the plan's new addresses (not listening yet) and builds runtimes only for added and
   * changed services; nothing serves differently until commit. Unchanged services keep their
   * runtime and their listener reference, and the running maps are updated in place for the
   * services the plan names, so an apply costs what it changes, not the size of the config.
   * Within a changed service, clusters whose endpoint list changed by a delta are patched
   * (runtime-build.ts), so that costs what changed too.
   */
  prepare(desired: Config, plan: Plan): Promise<PreparedChange> {
    return this.slot.prepare(async () => {
      this.assertOpen();
      const bound = await this.bindAll(plan.listeners.add, desired);
      const rebuilt = [...plan.services.added, ...plan.services.changed.map((c) => c.name)];
      const overrides = this.overrides;
      let built: { value: RuntimeBuild[]; created: CreatedStates };
      try {
        this.assertOpen();
        built = this.registry.recording(() =>
          rebuilt.map((name) =>
            buildServiceRuntime(desired.services.get(name)!, this.registry, this.current.services.get(name), overrides.get(name), this.accessWriters, this.connectionShares),
          ),
        );
      } catch (err) {
        for (const listener of bound) this.pool.release(listener, 0);
        throw err;
      }
      const abort = (): void => {
        for (const listener of bound) this.pool.release(listener, 0);
        this.registry.forgetCreated(built.created);
      };
      let tlsStep: TlsStep;
      try {
        tlsStep = this.tls.prepare(built.value.map((b) => b.runtime.config), plan.services.removed);
      } catch (err) {
        abort();
        throw err;
      }
      return {
        plan,
        prepared: { bound: plan.listeners.add, commit: 'swap' },
        commit: () => {
          if (this.closing) {
            abort();
            return Promise.reject(new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the config was not applied'));
          }
          return Promise.resolve(this.swap(plan, rebuilt, built.value, bound, overrides, tlsStep));
        },
        abort,
      };
    });
  }

  private assertOpen(): void {
    if (this.closing) throw new ApplyError(ErrorCodes.SHUTTING_DOWN, 'hitless is shutting down; the config was not applied');
  }

  /**
   * The swap (invariant 2): synchronous, and nothing in it can fail, so new connections see either
   * the old state or the whole new one. What only the old state held is noted first.
   */
  private swap(plan: Plan, rebuilt: readonly string[], builds: RuntimeBuild[], bound: readonly PooledListener[], builtWith: OverrideTable, tlsStep: TlsStep): ApplyReport {
    // Overrides set since prepare: the new runtimes take them as the running ones did.
    const runtimes = builds.map(({ runtime }, i) =>
      this.overrides === builtWith ? runtime : overlayServiceRuntime(runtime, this.overrides.get(rebuilt[i]), this.registry, this.accessWriters, this.connectionShares),
    );
    const { services, routes, listeners } = this.current;
    const released = plan.listeners.remove.map((key) => ({ key, listener: listeners.get(key)!, drainMs: routes.get(key)?.config.timeouts.drain ?? 0 }));
    const retired = plan.services.removed.flatMap((name) => services.get(name) ?? []);
    for (const name of plan.services.removed) services.delete(name);
    for (const key of plan.listeners.remove) {
      routes.delete(key);
      listeners.delete(key);
    }
    rebuilt.forEach((name, i) => {
      const runtime = runtimes[i];
      services.set(name, runtime);
      for (const address of runtime.config.listen) routes.set(address.key, runtime);
    });
    for (const listener of bound) listeners.set(listener.key, listener);
    for (const listener of bound) this.pool.activate(listener);
    tlsStep.commit();

    for (const { key, listener, drainMs } of released) {
      this.pool.release(listener, drainMs);
      this.frontends.get(key)?.retire();
      this.frontends.delete(key);
    }
    for (const runtime of retired) drainConnections(runtime);
    // Endpoints no longer configured: their pooled connections close once their requests finish.
    const dropped = builds.flatMap((b) => b.dropped);
    this.registry.forget(dropped);
    const forgotten = [...dropped, ...plan.services.removed.flatMap((name) => this.registry.forgetService(name))];
    for (const state of forgotten) state.release();
    rebuilt.forEach((name, i) => this.health.follow(name, runtimes[i] === builds[i].runtime ? builds[i] : { ...builds[i], runtime: runtimes[i] }));
    for (const name of plan.services.removed) this.health.follow(name, undefined);
    return { bound: plan.listeners.add, released: plan.listeners.remove };
  }

  /**
   * Endpoint overrides: kept for every later build, and applied now to the running services they
   * change, in one synchronous step (new balancers; connections keep the runtime they have).
   */
  setOverrides(table: OverrideTable): Promise<void> {
    const changed = changedServices(this.overrides, table);
    this.overrides = table;
    const { services, routes } = this.current;
    for (const name of changed) {
      const runtime = services.get(name);
      if (!runtime) continue;
      const next = overlayServiceRuntime(runtime, table.get(name), this.registry, this.accessWriters, this.connectionShares);
      if (next === runtime) continue;
      services.set(name, next);
      for (const address of next.config.listen) routes.set(address.key, next);
    }
    return Promise.resolve();
  }

  /** Binds every new address of the plan; on any failure, closes the ones it bound and throws. */
  private async bindAll(keys: readonly string[], desired: Config): Promise<PooledListener[]> {
    if (keys.length === 0) return [];
    const wanted = new Set(keys);
    const addresses = [...desired.services.values()].flatMap((s) => s.listen.filter((a) => wanted.has(a.key)));
    const results = await Promise.allSettled(addresses.map((a) => this.pool.acquire(a)));
    const acquired = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length === 0) return acquired;
    for (const listener of acquired) this.pool.release(listener, 0);
    const details = failures.map((e) =>
      e instanceof BindError ? { address: e.address, errno: e.errno, message: e.message } : { message: e.message },
    );
    throw new ApplyError(ErrorCodes.BIND_FAILED, `config rejected, nothing changed: ${failures.map((e) => e.message).join('; ')}`, details);
  }

  /** A connection moved here from another process, accepted there on `key`: a shutdown drains it too. */
  adoptConnection(key: string, connection: OpenConnection): void {
    this.pool.adopt(key, connection);
  }

  /** The running runtime of a service (a tunnel moved here from another process joins it). */
  serviceRuntime(name: string): ServiceRuntime | undefined {
    return this.current.services.get(name);
  }

  status(): DataplaneStatus {
    const services: ServiceStatus[] = [...this.current.services.values()].map((runtime) => ({ ...serviceCounters(runtime), ...this.tlsStatus(runtime), endpoints: endpointStatuses(runtime) }));
    return { driver: this.name, services, listeners: this.listenerStatuses() };
  }

  /** The same status with each service's endpoints packed (what a worker sends its supervisor). */
  packedStatus(): PackedDataplane {
    const services: PackedService[] = [...this.current.services.values()].map((runtime) => ({ ...serviceCounters(runtime), ...this.tlsStatus(runtime), endpoints: packEndpoints(runtime) }));
    return { driver: this.name, services, listeners: this.listenerStatuses() };
  }

  private tlsStatus(runtime: ServiceRuntime): Pick<ServiceStatus, 'tls' | 'upstreamTls'> {
    const tls = runtime.config.tls ? this.tls.statusOf(runtime.config.name) : undefined;
    const upstreamTls = upstreamTlsStatus(runtime);
    return { ...(tls ? { tls } : {}), ...(upstreamTls ? { upstreamTls } : {}) };
  }

  private listenerStatuses(): ListenerStatus[] {
    return this.pool.all().map((l) => ({
      address: l.key,
      service: this.current.routes.get(l.key)?.config.name ?? null,
      state: l.state,
      since: new Date(l.since).toISOString(),
      socket: l.state === 'active' || l.state === 'warming' ? this.pool.identity(l) : null,
      connections: l.connections.size,
    }));
  }

  close(drainMs: number): Promise<void> {
    this.closing ??= this.shutdown(drainMs);
    return this.closing;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.health.stopAll();
    this.tls.close();
    const all = [...this.pool.all()];
    this.pool.closeAll();
    for (const frontend of this.frontends.values()) frontend.drain();
    const deadline = Date.now() + drainMs;
    while (this.pool.openConnections() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const l of all) for (const connection of l.connections) connection.destroy();
    for (const state of this.registry.allEndpoints()) state.release();
    await Promise.all(all.map((l) => new Promise<void>((r) => (l.server.listening ? l.server.close(() => r()) : r()))));
  }
}

/** A service's own counters, as status lists them (its endpoints apart). */
function serviceCounters(runtime: ServiceRuntime): Omit<ServiceStatus, 'endpoints'> {
  const { state, config } = runtime;
  return {
    name: config.name,
    mode: config.mode,
    balance: config.balance,
    listen: config.listen.map((l) => l.key),
    active: state.active,
    total: state.total,
    rejected: state.rejected,
    failed: state.failed,
    retries: state.retries,
    responses: { '1xx': state.responses[1], '2xx': state.responses[2], '3xx': state.responses[3], '4xx': state.responses[4], '5xx': state.responses[5] },
    localResponses: state.localResponsesByCode(),
    bytesIn: state.bytesIn,
    bytesOut: state.bytesOut,
    latency: state.latency.snapshot(),
  };
}

/** Every endpoint of every cluster, as status lists them (plain loops: this runs for every endpoint on every status read). */
function endpointStatuses(runtime: ServiceRuntime): EndpointStatus[] {
  const out: EndpointStatus[] = [];
  for (const cluster of runtime.clusters.values()) {
    const name = cluster.config.name;
    for (const e of cluster.endpoints) {
      const s = e.state;
      out.push({
        cluster: name,
        address: e.key,
        weight: e.weight,
        healthy: s.healthy,
        health: !s.activeUp ? 'down' : s.ejected ? 'ejected' : 'up',
        checkError: describeCheckFailure(s.checkFailure),
        active: s.active,
        total: s.total,
        failures: s.failures,
        ejections: s.ejections,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
      });
    }
  }
  return out;
}

/** A removed service's connections may finish for up to its drain timeout, then are closed. */
function drainConnections(runtime: ServiceRuntime): void {
  if (runtime.connections.size === 0) return;
  const timer = setTimeout(() => {
    for (const connection of runtime.connections) connection.destroy();
  }, runtime.config.timeouts.drain);
  timer.unref();
}
