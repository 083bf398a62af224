// The builtin (Node) data plane. An apply binds every new address first, builds the new
// generation, swaps the routing table in one assignment, then releases what only the old one held.
import type { Socket } from 'node:net';
import type { Config } from '../../config/model.js';
import type { Plan } from '../../control/plan.js';
import { ApplyError } from '../../errors.js';
import type { ApplyReport, DataplaneStatus, Driver, ServiceStatus } from '../driver.js';
import { BindError, ListenerPool, socketIdentity, type PooledListener } from './listener-pool.js';
import { ServiceRuntime } from './service-runtime.js';
import { StateRegistry } from './state-registry.js';
import { proxyTcpConnection } from './tcp-proxy.js';
import { HttpFrontend } from './http/http-frontend.js';
import { ActiveHealthChecks } from './health/active-health.js';

interface Generation {
  readonly services: ReadonlyMap<string, ServiceRuntime>;
  /** Listen address → the service runtime new connections on it go to. */
  readonly routes: ReadonlyMap<string, ServiceRuntime>;
  /** The pool references this generation holds. */
  readonly listeners: readonly PooledListener[];
}

const EMPTY: Generation = { services: new Map(), routes: new Map(), listeners: [] };

export class BuiltinDriver implements Driver {
  readonly name = 'builtin';
  private readonly pool = new ListenerPool((socket, listener) => this.accept(socket, listener));
  private readonly registry = new StateRegistry();
  private readonly health = new ActiveHealthChecks();
  /** The HTTP parser side of each listening address in http mode, kept across applies. */
  private readonly frontends = new Map<string, HttpFrontend>();
  private current: Generation = EMPTY;
  private closing: Promise<void> | null = null;

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
    const frontend = new HttpFrontend(runtime.config.limits.maxHeaderBytes, () => this.current.routes.get(key), runtime);
    this.frontends.set(key, frontend);
    return frontend;
  }

  async apply(desired: Config, plan: Plan): Promise<ApplyReport> {
    if (this.closing) throw new ApplyError('hitless is shutting down; the config was not applied');
    const old = this.current;
    const acquired = await this.acquireAll(desired);
    const services = new Map<string, ServiceRuntime>();
    const routes = new Map<string, ServiceRuntime>();
    const unchanged = new Set(plan.services.unchanged);
    for (const [name, config] of desired.services) {
      const previous = old.services.get(name);
      // An unchanged service keeps its runtime: no rebuild, so an apply costs what it changes.
      const runtime = previous && unchanged.has(name) ? previous : new ServiceRuntime(config, this.registry);
      services.set(name, runtime);
      for (const address of config.listen) routes.set(address.key, runtime);
    }
    this.current = { services, routes, listeners: acquired };
    for (const listener of acquired) this.pool.activate(listener);

    const released: string[] = [];
    for (const listener of old.listeners) {
      const owner = old.routes.get(listener.key);
      if (listener.refs === 1) released.push(listener.key);
      this.pool.release(listener, owner?.config.timeouts.drain ?? 0);
    }
    for (const name of plan.services.removed) {
      const runtime = old.services.get(name);
      if (runtime) drainConnections(runtime);
    }
    for (const key of this.frontends.keys()) if (!routes.has(key)) this.frontends.delete(key);
    // Endpoints no longer configured: their pooled connections close once their requests finish.
    for (const state of this.registry.prune(desired.services)) for (const r of state.resources) void r.close();
    this.health.reconcile(services.values());
    return { bound: plan.listeners.add, released };
  }

  /** Takes a pool reference on every address of `desired`; on any bind failure, gives them all back. */
  private async acquireAll(desired: Config): Promise<PooledListener[]> {
    const addresses = [...desired.services.values()].flatMap((s) => s.listen);
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
    const deadline = Date.now() + drainMs;
    while (this.pool.openConnections() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const l of all) for (const socket of l.connections) socket.destroy();
    for (const state of this.registry.endpoints.values()) for (const r of state.resources) void r.close();
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
