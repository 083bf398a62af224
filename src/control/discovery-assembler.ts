// Discovered sets → desired state: the file/API config (the base) with each discovered service's
// set in effect (discovery/source-tracker.ts) merged in.
//
// Cost: a discovery apply costs what changed, not the number of services. The assembled config
// of the same base is patched: only the services whose set changed since the last assembly get
// a new ServiceConfig (all others keep their frozen objects, so the driver keeps their runtimes),
// the config hash is the root of a hash tree over the discovered services' identities
// (config/service-identity.ts: the digest the plan and the workers use too) updated for those
// leaves only, and the assembly names the services it touched (a Derivation, plan.ts), which the
// controller hands to the plan so that it compares only those. Within a service, the endpoint
// list is derived from the previous one by what changed (discovery/discovered-set.ts), so a
// one-endpoint change in a large service costs that endpoint downstream. A new base (reload,
// PUT /config) is assembled from scratch.
import type { DiscoveryConfig } from '../config/discovery-model.js';
import { freezeMap } from '../config/freeze-map.js';
import { HashTree, sha256Hex } from '../config/hash.js';
import type { ConfigSnapshot, ServiceConfig } from '../config/model.js';
import { serviceDigest } from '../config/service-identity.js';
import type { DiscoveredSet } from '../discovery/discovered-set.js';
import type { Assembled } from './controller.js';
import type { Derivation } from './plan.js';

/** Where the sets in effect come from (discovery/source-tracker.ts). */
export interface DiscoveredSets {
  /** How many services have a source. */
  readonly size: number;
  setFor(service: string, discovery: DiscoveryConfig): DiscoveredSet | null;
}

/** The last assembly: patched in place of a rebuild while the base stays the same. */
interface Assembly {
  readonly base: ConfigSnapshot;
  assembled: Assembled;
  /** One leaf per service of `base` with `discovery:`, at the position given by `leaves`. */
  readonly tree: HashTree;
  readonly leaves: ReadonlyMap<string, number>;
}

export class DiscoveryAssembler {
  private assembly: Assembly | null = null;
  /** Services whose set or source changed since `assembly` was made. */
  private readonly dirty = new Set<string>();

  constructor(private readonly sets: DiscoveredSets) {}

  /** What `service` merges changed (its set, or its source): the next assembly merges it again. */
  touch(service: string): void {
    this.dirty.add(service);
  }

  /** The last assembly, if it was made from `base`. */
  lastOf(base: ConfigSnapshot): Assembled | null {
    return this.assembly?.base === base ? this.assembly.assembled : null;
  }

  /**
   * `base` with the discovered sets in place: the last assembly patched, while `base` is the same
   * object, with the step from the last assembled config (its Derivation); else built whole.
   */
  assemble(base: ConfigSnapshot): Assembled {
    if (this.sets.size === 0) {
      this.assembly = null;
      return { snapshot: base };
    }
    const last = this.assembly;
    if (last?.base !== base) return this.assembleAll(base);
    if (this.dirty.size === 0) return last.assembled;
    const from = last.assembled.snapshot.config;
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
    // Only the latest step is kept (it names the config before it, never a chain of them).
    const derivation: Derivation = { from, touched };
    last.assembled = { snapshot: this.snapshot(base, config, last.tree), derivation };
    return last.assembled;
  }

  private assembleAll(base: ConfigSnapshot): Assembled {
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
    this.assembly = { base, assembled: { snapshot: this.snapshot(base, config, tree) }, tree, leaves };
    return this.assembly.assembled;
  }

  /** `service` with its discovered set in place (as it is, before the set's source answered), and the hash-tree leaf that names it. */
  private merge(name: string, service: ServiceConfig): { service: ServiceConfig; leaf: string } {
    const set = service.discovery ? this.sets.setFor(name, service.discovery) : null;
    const merged = set ? set.mergeInto(service) : service;
    return { service: merged, leaf: serviceDigest(merged).toString(16) };
  }

  private snapshot(base: ConfigSnapshot, config: ConfigSnapshot['config'], tree: HashTree): ConfigSnapshot {
    const hash = sha256Hex(`${base.hash}\n${tree.root}`);
    return Object.freeze({ ...base, config, hash });
  }
}
