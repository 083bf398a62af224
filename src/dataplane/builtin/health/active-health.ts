// Active health checks, one per endpoint identity that has them configured. A check belongs to the
// endpoint's state, not to a config: applies that keep the endpoint keep its verdict, and only
// a change of the check's own settings restarts its schedule (the verdict stays).
import type { ActiveHealthConfig } from '../../../config/model.js';
import type { UpstreamTlsConfig } from '../../../config/tls-model.js';
import type { BalancerEndpoint } from '../../balancers/balancer.js';
import type { EndpointState } from '../../endpoint-state.js';
import type { RuntimeBuild } from '../runtime-build.js';
import type { ServiceRuntime } from '../service-runtime.js';
import { probe } from './probe.js';

class Check {
  private timer: NodeJS.Timeout | null = null;
  private passes = 0;
  private fails = 0;
  private stopped = false;

  constructor(
    readonly endpoint: BalancerEndpoint,
    readonly config: ActiveHealthConfig,
    /** The cluster's upstream_tls: checks speak TLS as requests do. */
    readonly tls: UpstreamTlsConfig | null,
  ) {
    this.schedule(Math.random() * Math.min(config.interval, 1000)); // spread first probes
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    // In maintenance no probe is sent (as HAProxy's `maint`); the schedule goes on, so checks
    // resume within one interval of the endpoint's return.
    if (this.endpoint.state.maint) return this.schedule(this.config.interval);
    const failure = await probe(this.endpoint.host, this.endpoint.port, this.config, this.tls);
    if (this.stopped) return;
    const state = this.endpoint.state;
    if (failure === 0) {
      this.fails = 0;
      if (!state.activeUp && ++this.passes >= this.config.rise) state.activeUp = true;
      // The reason stays while the endpoint is down (passing checks not yet enough to rise).
      if (state.activeUp) state.checkFailure = 0;
    } else {
      this.passes = 0;
      state.checkFailure = failure;
      if (state.activeUp && ++this.fails >= this.config.fall) state.activeUp = false;
    }
    this.schedule(this.config.interval);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

export class ActiveHealthChecks {
  /** Per service name, its checks by endpoint state. */
  private readonly checks = new Map<string, Map<EndpointState, Check>>();

  /**
   * Makes the checks of service `name` match its new runtime (undefined: the service is gone).
   * When every cluster was kept or patched by a delta with the same health settings, only the
   * endpoints the build dropped and added are touched; otherwise the whole service is compared.
   */
  follow(name: string, build: RuntimeBuild | undefined): void {
    if (!build) return this.reconcile(name, undefined);
    const builds = [...build.clusters.values()];
    if (!builds.every((b) => b.how === 'kept' || (b.how === 'patched' && b.sameHealth))) return this.reconcile(name, build.runtime);
    const checks = this.checks.get(name) ?? new Map<EndpointState, Check>();
    for (const state of build.dropped) {
      checks.get(state)?.stop();
      checks.delete(state);
    }
    for (const [cluster, b] of build.clusters) {
      const clusterConfig = build.runtime.clusters.get(cluster)!.config;
      const config = clusterConfig.health.active;
      if (b.how !== 'patched' || !config) continue;
      for (const endpoint of b.added) if (!checks.has(endpoint.state)) checks.set(endpoint.state, new Check(endpoint, config, clusterConfig.upstreamTls));
    }
    if (checks.size > 0) this.checks.set(name, checks);
    else this.checks.delete(name);
  }

  /** Makes the checks of one service match its runtime (absent: removed), comparing every endpoint. */
  private reconcile(name: string, runtime: ServiceRuntime | undefined): void {
    const wanted = new Map<EndpointState, { endpoint: BalancerEndpoint; config: ActiveHealthConfig; tls: UpstreamTlsConfig | null }>();
    for (const cluster of runtime?.clusters.values() ?? []) {
      const config = cluster.config.health.active;
      const tls = cluster.config.upstreamTls;
      if (config) for (const endpoint of cluster.endpoints) wanted.set(endpoint.state, { endpoint, config, tls });
    }
    const checks = this.checks.get(name) ?? new Map<EndpointState, Check>();
    for (const [state, check] of checks) {
      const want = wanted.get(state);
      if (!want || !sameCheck(want.config, check.config) || want.endpoint.host !== check.endpoint.host || (want.tls?.digest ?? null) !== (check.tls?.digest ?? null)) {
        check.stop();
        checks.delete(state);
        if (!want) {
          state.activeUp = true; // no longer checked: presumed up, as when never checked
          state.checkFailure = 0;
        }
      }
    }
    for (const [state, want] of wanted) if (!checks.has(state)) checks.set(state, new Check(want.endpoint, want.config, want.tls));
    if (checks.size > 0) this.checks.set(name, checks);
    else this.checks.delete(name);
  }

  stopAll(): void {
    for (const checks of this.checks.values()) for (const check of checks.values()) check.stop();
    this.checks.clear();
  }
}

function sameCheck(a: ActiveHealthConfig, b: ActiveHealthConfig): boolean {
  return a.type === b.type && a.path === b.path && a.interval === b.interval && a.timeout === b.timeout && a.rise === b.rise && a.fall === b.fall;
}
