// Discovery → desired state. One source per service with `discovery:`; this keeps each source's
// last known good set and its state, holds sets that would fall below `min_endpoints`, folds
// bursts into one apply per coalescing window, and (as the controller's assembler) merges the
// sets into whatever file/API config is being applied.
//
// Cost: a discovery apply costs what changed, not the number of services. The assembled config
// of the same base is patched: only the services whose set changed since the last assembly get
// a new ServiceConfig (all others keep their frozen objects, so the driver keeps their runtimes),
// the config hash is the root of a hash tree updated for those leaves only, and the plan is told
// which services to compare (plan.ts recordDerivation). A new base (reload, PUT /config) is
// assembled from scratch.
import { joinHostPort } from '../config/address.js';
import type { DiscoveryConfig } from '../config/discovery-model.js';
import { HashTree, sha256Hex } from '../config/fingerprint.js';
import { freezeMap } from '../config/freeze-map.js';
import type { ConfigSnapshot, EndpointConfig, ServiceConfig } from '../config/model.js';
import { createSource, sameTarget } from '../discovery/create-source.js';
import type { DiscoveredEndpoint, Source } from '../discovery/source.js';
import type { Logger } from '../observability/log.js';
import type { Assembler, Controller } from './controller.js';
import { recordDerivation } from './plan.js';

export type SourceState = 'starting' | 'healthy' | 'degraded';

export interface DiscoveryStatus {
  readonly service: string;
  readonly source: string;
  readonly state: SourceState;
  readonly since: string;
  readonly lastError: string | null;
  readonly lastUpdate: string | null;
  /** Endpoints in effect (the last known good set); null before the first good set. */
  readonly endpoints: number | null;
}

class Discovered {
  good: readonly EndpointConfig[] | null = null;
  digest = '';
  state: SourceState = 'starting';
  since = new Date().toISOString();
  lastError: string | null = null;
  lastUpdate: string | null = null;
  answered = false;
  private mergedBase: ServiceConfig | null = null;
  private mergedDigest = '';
  private merged: ServiceConfig | null = null;

  constructor(
    readonly name: string,
    public config: DiscoveryConfig,
    readonly source: Source,
  ) {}

  /** The service with the discovered set in place; the same object while nothing changed. */
  mergeInto(base: ServiceConfig): ServiceConfig {
    if (this.good === null) return base;
    if (this.merged && this.mergedBase === base && this.mergedDigest === this.digest) return this.merged;
    const endpoints = base.discovery?.mode === 'add' ? uniqueByKey([...base.endpoints, ...this.good]) : this.good;
    const merged: ServiceConfig = { ...base, endpoints };
    const cluster = base.clusters?.get(base.defaultCluster);
    if (cluster) {
      const clusters = new Map(base.clusters);
      clusters.set(base.defaultCluster, Object.freeze({ ...cluster, endpoints }));
      Object.assign(merged, { clusters });
    }
    this.merged = Object.freeze(merged);
    this.mergedBase = base;
    this.mergedDigest = this.digest;
    return this.merged;
  }
}

/** The last assembly: patched in place of a rebuild while the base stays the same. */
interface Assembly {
  readonly base: ConfigSnapshot;
  assembled: ConfigSnapshot;
  /** One leaf per service of `base` with `discovery:`, at the position given by `leaves`. */
  readonly tree: HashTree;
  readonly leaves: ReadonlyMap<string, number>;
}

export interface DiscoveryManagerOptions {
  readonly createSource?: (config: DiscoveryConfig) => Source;
}

export class DiscoveryManager implements Assembler {
  private readonly entries = new Map<string, Discovered>();
  private timer: NodeJS.Timeout | null = null;
  private coalesceMs = 20;
  private stopped = false;
  private readonly makeSource: (config: DiscoveryConfig) => Source;
  /** While start() waits: called whenever a source answers for the first time. */
  private onAnswer: (() => void) | null = null;
  /** A set changed before the first apply committed; applied right after it. */
  private pendingUntilCommit = false;
  private assembly: Assembly | null = null;
  /** Services whose entry changed (set, source) since `assembly` was made. */
  private readonly dirty = new Set<string>();
  /** The base committed() last followed; the same one again has nothing to follow. */
  private followed: ConfigSnapshot | null = null;

  constructor(
    private readonly controller: Controller,
    private readonly log: Logger,
    options: DiscoveryManagerOptions = {},
  ) {
    this.makeSource = options.createSource ?? ((config) => createSource(config.target));
  }

  /** Starts the sources of `base` and waits (up to discovery_defaults.initial_wait) for their first answers. */
  async start(base: ConfigSnapshot): Promise<void> {
    this.committed(base);
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.onAnswer = null;
        resolve();
      };
      const timer = setTimeout(finish, base.config.discovery.initialWait);
      this.onAnswer = () => [...this.entries.values()].every((e) => e.answered) && finish();
      this.onAnswer();
    });
  }

  /** `base` with the discovered sets in place: the last assembly patched, while `base` is the same object. */
  assemble(base: ConfigSnapshot): ConfigSnapshot {
    if (this.entries.size === 0) {
      this.assembly = null;
      return base;
    }
    const last = this.assembly;
    if (last?.base !== base) return this.assembleAll(base);
    if (this.dirty.size === 0) return last.assembled;
    const from = last.assembled.config;
    const services = new Map(from.services);
    const touched: string[] = [];
    for (const name of this.dirty) {
      const leaf = last.leaves.get(name);
      if (leaf === undefined) continue; // not a discovered service of this base
      const merged = this.merge(name, base.config.services.get(name)!);
      last.tree.set(leaf, merged.leaf);
      if (services.get(name) === merged.service) continue;
      services.set(name, merged.service);
      touched.push(name);
    }
    this.dirty.clear();
    if (touched.length === 0) return last.assembled;
    const config: typeof from = Object.freeze({ ...from, services: freezeMap(services) });
    recordDerivation(config, from, touched);
    last.assembled = this.snapshot(base, config, last.tree);
    return last.assembled;
  }

  private assembleAll(base: ConfigSnapshot): ConfigSnapshot {
    const services = new Map<string, ServiceConfig>();
    const leaves = new Map<string, number>();
    const prints: string[] = [];
    for (const [name, service] of base.config.services) {
      if (!service.discovery) {
        services.set(name, service);
        continue;
      }
      const merged = this.merge(name, service);
      services.set(name, merged.service);
      leaves.set(name, prints.length);
      prints.push(merged.leaf);
    }
    this.dirty.clear();
    const tree = new HashTree(prints);
    const config = Object.freeze({ ...base.config, services: freezeMap(services) });
    this.assembly = { base, assembled: this.snapshot(base, config, tree), tree, leaves };
    return this.assembly.assembled;
  }

  /** `service` with its discovered set in place, and the hash-tree leaf that names that content. */
  private merge(name: string, service: ServiceConfig): { service: ServiceConfig; leaf: string } {
    const entry = this.entries.get(name);
    if (!entry || !service.discovery || !sameTarget(entry.config.target, service.discovery.target) || entry.good === null) {
      return { service, leaf: `${name}\n-` };
    }
    return { service: entry.mergeInto(service), leaf: `${name}\n=${entry.digest}` };
  }

  private snapshot(base: ConfigSnapshot, config: ConfigSnapshot['config'], tree: HashTree): ConfigSnapshot {
    const hash = sha256Hex(`${base.hash}\n${tree.root}`);
    return Object.freeze({ ...base, config, hash });
  }

  /** Follows the running base config: a source per service with `discovery:`, none for the others. */
  committed(base: ConfigSnapshot): void {
    if (this.stopped) return;
    if (this.pendingUntilCommit) {
      this.pendingUntilCommit = false;
      this.schedule();
    }
    if (base === this.followed) return;
    this.followed = base;
    this.coalesceMs = base.config.discovery.coalesce;
    const wanted = new Map<string, DiscoveryConfig>();
    for (const [name, service] of base.config.services) if (service.discovery) wanted.set(name, service.discovery);
    for (const [name, entry] of this.entries) {
      const config = wanted.get(name);
      if (config && sameTarget(config.target, entry.config.target)) {
        entry.config = config;
        continue;
      }
      this.entries.delete(name);
      this.dirty.add(name);
      void entry.source.stop();
      if (config) this.open(name, config, entry);
    }
    for (const [name, config] of wanted) if (!this.entries.has(name)) this.open(name, config, null);
  }

  status(): Record<string, unknown> {
    return { discovery: this.describe() };
  }

  describe(): DiscoveryStatus[] {
    return [...this.entries.values()].map((e) => ({
      service: e.name,
      source: e.source.description,
      state: e.state,
      since: e.since,
      lastError: e.lastError,
      lastUpdate: e.lastUpdate,
      endpoints: e.good?.length ?? null,
    }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(entries.map((e) => e.source.stop().catch(() => {})));
  }

  /** A new source; a replaced one's last good set stays in effect until the new one answers. */
  private open(name: string, config: DiscoveryConfig, previous: Discovered | null): void {
    const entry = new Discovered(name, config, this.makeSource(config));
    if (previous) {
      entry.good = previous.good;
      entry.digest = previous.digest;
    }
    this.entries.set(name, entry);
    this.dirty.add(name);
    entry.source
      .start({
        onEndpoints: (endpoints, problems) => this.entries.get(name) === entry && this.onEndpoints(entry, endpoints, problems ?? []),
        onError: (error) => this.entries.get(name) === entry && this.onError(entry, error),
      })
      .catch((err: Error) => this.onError(entry, err));
  }

  private onEndpoints(entry: Discovered, found: readonly DiscoveredEndpoint[], problems: readonly string[]): void {
    entry.lastUpdate = new Date().toISOString();
    this.answered(entry);
    const endpoints = uniqueByKey(found.map(toEndpointConfig));
    const floor = entry.config.minEndpoints;
    if (endpoints.length < floor) {
      const held = entry.good === null ? 'the static endpoints stay' : `holding the last known good ${entry.good.length}`;
      this.setState(entry, 'degraded', `the source reports ${endpoints.length} endpoint(s), fewer than min_endpoints ${floor}; ${held}`);
      return;
    }
    if (problems.length > 0) this.setState(entry, 'degraded', `malformed entries ignored: ${problems.join('; ')}`);
    else this.setState(entry, 'healthy', null);
    const digest = endpoints.map((e) => `${e.key}*${e.weight}`).join(',');
    if (entry.good !== null && digest === entry.digest) return;
    entry.good = Object.freeze(endpoints);
    entry.digest = digest;
    this.dirty.add(entry.name);
    this.schedule();
  }

  private onError(entry: Discovered, error: Error): void {
    this.answered(entry);
    const held = entry.good === null ? 'no endpoints discovered yet' : `keeping the last known good ${entry.good.length}`;
    this.setState(entry, 'degraded', `${error.message}; ${held}`);
  }

  private answered(entry: Discovered): void {
    if (entry.answered) return;
    entry.answered = true;
    this.onAnswer?.();
  }

  private setState(entry: Discovered, state: SourceState, error: string | null): void {
    const changed = entry.state !== state || entry.lastError !== error;
    if (state !== entry.state) entry.since = new Date().toISOString();
    entry.state = state;
    if (error !== null) entry.lastError = error;
    if (!changed) return;
    const fields = { service: entry.name, source: entry.source.description, state };
    if (state === 'degraded') this.log.warn({ ...fields, error }, 'discovery source degraded');
    else this.log.info(fields, 'discovery source healthy');
  }

  /** The first change opens a window; everything that arrives within it rides on one apply. */
  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const base = this.controller.base;
      if (this.stopped) return;
      // The first apply has not committed yet (a supervisor still starting its workers): it may
      // have assembled its config before this change, so apply again once it has committed.
      if (!base) return void (this.pendingUntilCommit = true);
      this.controller.apply(base, { origin: 'discovery' }).catch((err: Error) => {
        this.log.error({ err: err.message }, 'discovered endpoints could not be applied; the running config keeps serving');
      });
    }, this.coalesceMs);
  }
}

function toEndpointConfig(e: DiscoveredEndpoint): EndpointConfig {
  return Object.freeze({ host: e.host, port: e.port, key: joinHostPort(e.host, e.port), weight: e.weight ?? 1 });
}

function uniqueByKey(endpoints: readonly EndpointConfig[]): EndpointConfig[] {
  const seen = new Set<string>();
  return endpoints.filter((e) => !seen.has(e.key) && seen.add(e.key));
}
