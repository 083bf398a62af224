// The builtin (Node) data plane. An apply binds every new address first, builds the new
// generation, swaps the routing table in one assignment, then releases what only the old one held.
import type { Socket } from 'node:net';
import type { Config } from '../../config/model.js';
import type { Plan } from '../../control/plan.js';
import { ApplyError } from '../../errors.js';
import type { AccessWriterFactory } from '../access-record.js';
import type { ApplyReport, DataplaneStatus, Driver, ServiceStatus } from '../driver.js';
import { BindError, ListenerPool, socketIdentity, type Binder, type PooledListener } from './listener-pool.js';
import { ServiceRuntime } from './service-runtime.js';
import { StateRegistry } from './state-registry.js';
import { proxyTcpConnection } from './tcp-proxy.js';
import { HttpFrontend } from './http/http-frontend.js';
import { ActiveHealthChecks } from './health/active-health.js';

/**
 * The running state. Its maps change only inside apply()'s synchronous swap step, after
 * everything that can fail is done, so no connection ever sees half an apply.
 */
interface Generation {
  readonly services: Map<string, ServiceRuntime>;
  /** Listen address → the service runtime new connections on it go to. */
  readonly routes: Map<string, ServiceRuntime>;
  /** The pool reference this generation holds on each address. */
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
  private readonly current: Generation = { services: new Map(), routes: new Map(), listeners: new Map() };
  private closing: Promise<void> | null = null;

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
    if (runtime.config.mode === 'tcp') proxyTcpConnection(socket, runtime);
    else this.frontendFor(listener.key, runtime).accept(socket);
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
   * Binds the plan's new addresses, builds runtimes only for added and changed services, then
   * swaps them in, in one synchronous step that cannot fail. Unchanged services keep their
   * runtime and their listener reference, and the running maps are updated in place for the
   * services the plan names, so an apply costs what it changes, not the size of the config.
   */
  async apply(desired: Config, plan: Plan): Promise<ApplyReport> {
    if (this.closing) throw new ApplyError('hitless is shutting down; the config was not applied');
    const bound = await this.bindAll(plan.listeners.add, desired);
    const rebuilt = [...plan.services.added, ...plan.services.changed.map((c) => c.name)];
    let runtimes: ServiceRuntime[];
    try {
      runtimes = rebuilt.map((name) => new ServiceRuntime(desired.services.get(name)!, this.registry, this.accessWriters, this.connectionShares));
    } catch (err) {
      for (const listener of bound) this.pool.release(listener, 0);
      throw err;
    }
    // The swap (invariant 2): synchronous, and nothing below can fail, so new connections see
    // either the old state or the whole new one. What only the old state held is noted first.
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

    for (const { key, listener, drainMs } of released) {
      this.pool.release(listener, drainMs);
      this.frontends.get(key)?.retire();
      this.frontends.delete(key);
    }
    for (const runtime of retired) drainConnections(runtime);
    const touched = [...rebuilt, ...plan.services.removed];
    // Endpoints no longer configured: their pooled connections close once their requests finish.
    for (const state of this.registry.prune(desired.services, touched)) for (const r of state.resources) void r.close();
    this.health.reconcile(touched, services);
    return { bound: plan.listeners.add, released: plan.listeners.remove };
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
    throw new ApplyError(`config rejected, nothing changed: ${failures.map((e) => e.message).join('; ')}`, details);
  }

  status(): DataplaneStatus {
    const services: ServiceStatus[] = [...this.current.services.values()].map((runtime) => ({
      name: runtime.config.name,
      mode: runtime.config.mode,
      balance: runtime.config.balance,
      listen: runtime.config.listen.map((l) => l.key),
      active: runtime.state.active,
      total: runtime.state.total,
      rejected: runtime.state.rejected,
      failed: runtime.state.failed,
      retries: runtime.state.retries,
      responses: { '1xx': runtime.state.responses[1], '2xx': runtime.state.responses[2], '3xx': runtime.state.responses[3], '4xx': runtime.state.responses[4], '5xx': runtime.state.responses[5] },
      bytesIn: runtime.state.bytesIn,
      bytesOut: runtime.state.bytesOut,
      latency: runtime.state.latency.snapshot(),
      endpoints: [...runtime.allEndpoints()].map(({ cluster, endpoint: e }) => ({
        cluster: cluster.config.name,
        address: e.key,
        weight: e.weight,
        healthy: e.state.healthy,
        health: !e.state.activeUp ? 'down' : e.state.ejected ? 'ejected' : 'up',
        active: e.state.active,
        total: e.state.total,
        failures: e.state.failures,
        ejections: e.state.ejections,
        bytesIn: e.state.bytesIn,
        bytesOut: e.state.bytesOut,
      })),
    }));
    const listeners = this.pool.all().map((l) => ({
      address: l.key,
      service: this.current.routes.get(l.key)?.config.name ?? null,
      state: l.state,
      since: new Date(l.since).toISOString(),
      socket: l.state === 'active' || l.state === 'warming' ? socketIdentity(l.server) : null,
      connections: l.connections.size,
    }));
    return { driver: this.name, services, listeners };
  }

  close(drainMs: number): Promise<void> {
    this.closing ??= this.shutdown(drainMs);
    return this.closing;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.health.stopAll();
    const all = [...this.pool.all()];
    this.pool.closeAll();
    for (const frontend of this.frontends.values()) frontend.drain();
    const deadline = Date.now() + drainMs;
    while (this.pool.openConnections() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const l of all) for (const socket of l.connections) socket.destroy();
    for (const state of this.registry.allEndpoints()) for (const r of state.resources) void r.close();
    await Promise.all(all.map((l) => new Promise<void>((r) => (l.server.listening ? l.server.close(() => r()) : r()))));
  }
}

/** A removed service's connections may finish for up to its drain timeout, then are closed. */
function drainConnections(runtime: ServiceRuntime): void {
  if (runtime.connections.size === 0) return;
  const timer = setTimeout(() => {
    for (const socket of runtime.connections) socket.destroy();
  }, runtime.config.timeouts.drain);
  timer.unref();
}
