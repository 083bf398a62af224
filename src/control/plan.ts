// diff(running, desired) → a typed plan. Pure: no I/O, so it is unit-tested on its own. The
// Controller computes it once per apply or validation and hands it to the driver; the supervisor
// sends it to its workers with the config patch (process/config-patch.ts).
import type { HostPort } from '../config/address.js';
import type { Config, EndpointConfig, ServiceConfig } from '../config/model.js';
import { deltaBetween } from '../config/endpoint-list.js';
import { changedFields } from '../config/service-identity.js';

// The plan's types belong to the driver contract (dataplane/plan-types.ts): drivers consume plans,
// control computes them, and neither layer imports the other's implementation.
import type { Plan, ServiceChange, EndpointDiff } from '../dataplane/plan-types.js';
export type { Plan, ServiceChange, EndpointDiff };

/**
 * A plan without the two lists computed on demand (listeners.keep, services.unchanged), which
 * name every address and service: what crosses a process line, since a structured clone would
 * compute them.
 */
export interface PlanSteps {
  readonly listeners: Omit<Plan['listeners'], 'keep'>;
  readonly services: Omit<Plan['services'], 'unchanged'>;
  readonly adminChanged: boolean;
  readonly empty: boolean;
}

export function planSteps(plan: Plan): PlanSteps {
  const { listeners, services } = plan;
  return {
    listeners: { add: listeners.add, remove: listeners.remove },
    services: { added: services.added, removed: services.removed, changed: services.changed },
    adminChanged: plan.adminChanged,
    empty: plan.empty,
  };
}

/**
 * What an assembler knows about a config it derived from another: the derived config is `from`
 * with, at most, the services named in `touched` replaced, added or removed (everything else is
 * the same objects). Handed to diffConfigs with that config, it compares only those services, so
 * a discovery apply costs what changed rather than the number of services. It travels with the
 * config it describes (the assembler returns both, the controller passes both), never in a table
 * kept on the side.
 */
export interface Derivation {
  readonly from: Config;
  readonly touched: readonly string[];
}

/**
 * The plan from `running` to `desired`. `derivation`: how `desired` was derived, if it was; it
 * is used only when derived from `running` itself (else every service is compared: say, the
 * apply of the config it was derived from was rejected).
 */
export function diffConfigs(running: Config | null, desired: Config, derivation?: Derivation | null): Plan {
  const before = running?.services ?? new Map<string, ServiceConfig>();
  const after = desired.services;
  const added: string[] = [];
  const removed: string[] = [];
  const changed: ServiceChange[] = [];
  const partial = running !== null && derivation?.from === running;
  for (const name of partial ? derivation.touched : after.keys()) {
    const service = after.get(name);
    const old = before.get(name);
    if (!service) {
      if (old) removed.push(name);
    } else if (!old) added.push(name);
    else {
      const change = diffService(old, service);
      if (change) changed.push(change);
    }
  }
  if (!partial) for (const name of before.keys()) if (!after.has(name)) removed.push(name);

  const listeners = diffListeners(before, after, added, removed, changed);
  const adminChanged =
    running !== null &&
    (running.admin.listen.key !== desired.admin.listen.key || running.admin.token !== desired.admin.token || running.admin.readToken !== desired.admin.readToken);
  const empty = added.length === 0 && removed.length === 0 && changed.length === 0 && !adminChanged;
  return withLazyLists({ listeners, services: { added, removed, changed }, adminChanged, empty }, after);
}

/**
 * The whole plan of `steps` whose desired services are `after`: listeners.keep and
 * services.unchanged name every address and service, so they are listed only when someone reads
 * them (status, tests), never on the way of an apply.
 */
export function withLazyLists(steps: PlanSteps, after: ReadonlyMap<string, ServiceConfig>): Plan {
  const { add, remove } = steps.listeners;
  const { added, removed, changed } = steps.services;
  let keep: string[] | null = null;
  let unchanged: string[] | null = null;
  const listeners = {
    add,
    remove,
    get keep(): string[] {
      // A Set, as before: a validated config never repeats a key, a hand-built one might.
      const addSet = new Set(add);
      return (keep ??= [...new Set(listenKeys(after.values()))].filter((k) => !addSet.has(k)));
    },
  };
  const services = {
    added,
    removed,
    changed,
    get unchanged(): string[] {
      if (unchanged) return unchanged;
      const other = new Set([...added, ...changed.map((c) => c.name)]);
      return (unchanged = [...after.keys()].filter((name) => !other.has(name)));
    },
  };
  return { listeners, services, adminChanged: steps.adminChanged, empty: steps.empty };
}

/**
 * Listener changes, from the services that changed only (an apply costs what it changes). An
 * address leaving one service and joining another is in both sets, so it is kept, never rebound.
 */
function diffListeners(
  before: ReadonlyMap<string, ServiceConfig>,
  after: ReadonlyMap<string, ServiceConfig>,
  added: readonly string[],
  removed: readonly string[],
  changed: readonly ServiceChange[],
): PlanSteps['listeners'] {
  const gone = new Set<string>();
  const fresh = new Set<string>();
  for (const name of removed) for (const l of before.get(name)!.listen) gone.add(l.key);
  for (const name of added) for (const l of after.get(name)!.listen) fresh.add(l.key);
  for (const { name } of changed) {
    const was = before.get(name)!.listen;
    const now = after.get(name)!.listen;
    for (const l of was) if (!now.some((n) => n.key === l.key)) gone.add(l.key);
    for (const l of now) if (!was.some((o) => o.key === l.key)) fresh.add(l.key);
  }
  return { add: [...fresh].filter((k) => !gone.has(k)), remove: [...gone].filter((k) => !fresh.has(k)) };
}

/** Every listen address of `services`, in order (the plan, the supervisor and the workers all need them). */
export function listenAddresses(services: Iterable<ServiceConfig>): HostPort[] {
  return [...services].flatMap((s) => s.listen);
}

export function listenKeys(services: Iterable<ServiceConfig>): string[] {
  return listenAddresses(services).map((l) => l.key);
}

/** A service changed when its identity (config/service-identity.ts) did; `fields` are the parts that differ. */
function diffService(old: ServiceConfig, next: ServiceConfig): ServiceChange | null {
  const fields = changedFields(old, next);
  if (fields.length === 0) return null;
  return { name: next.name, fields, endpoints: diffEndpoints(old, next) };
}

/**
 * Endpoints added, removed and reweighted in every cluster, keyed "address" in the default
 * cluster and "cluster/address" elsewhere. A cluster whose list is the same object, or was derived
 * from the old one by a delta (discovery), costs nothing or that delta; others are compared whole.
 */
function diffEndpoints(old: ServiceConfig, next: ServiceConfig): EndpointDiff {
  const added: string[] = [];
  const removed: string[] = [];
  const reweighted: string[] = [];
  const none: readonly EndpointConfig[] = [];
  for (const name of new Set([...old.clusters.keys(), ...next.clusters.keys()])) {
    const before = old.clusters.get(name)?.endpoints ?? none;
    const after = next.clusters.get(name)?.endpoints ?? none;
    const prefix = name === next.defaultCluster ? '' : `${name}/`;
    const oldPrefix = name === old.defaultCluster ? '' : `${name}/`;
    if (prefix !== oldPrefix) {
      // The default cluster moved: every key of this cluster is another key now.
      for (const e of before) removed.push(oldPrefix + e.key);
      for (const e of after) added.push(prefix + e.key);
      continue;
    }
    if (before === after) continue;
    const delta = deltaBetween(before, after);
    if (delta) {
      for (const e of delta.added) added.push(prefix + e.key);
      for (const e of delta.removed) removed.push(prefix + e.key);
      for (const r of delta.reweighted) reweighted.push(prefix + r.after.key);
      continue;
    }
    const was = new Map(before.map((e) => [e.key, e.weight]));
    const now = new Set<string>();
    for (const e of after) {
      now.add(e.key);
      const weight = was.get(e.key);
      if (weight === undefined) added.push(prefix + e.key);
      else if (weight !== e.weight) reweighted.push(prefix + e.key);
    }
    for (const e of before) if (!now.has(e.key)) removed.push(prefix + e.key);
  }
  return { added, removed, reweighted };
}

/** One line for logs and status, e.g. "services +1 -0 ~2 (endpoints +1 -1 ±0); listeners +1 -0". */
export function summarizePlan(plan: Plan): string {
  if (plan.empty) return 'no changes';
  const s = plan.services;
  let epAdded = 0;
  let epRemoved = 0;
  let epReweighted = 0;
  for (const c of s.changed) {
    epAdded += c.endpoints.added.length;
    epRemoved += c.endpoints.removed.length;
    epReweighted += c.endpoints.reweighted.length;
  }
  const parts = [`services +${s.added.length} -${s.removed.length} ~${s.changed.length}`];
  if (s.changed.length > 0) parts[0] += ` (endpoints +${epAdded} -${epRemoved} weight ${epReweighted})`;
  parts.push(`listeners +${plan.listeners.add.length} -${plan.listeners.remove.length}`);
  if (plan.adminChanged) parts.push('admin changed');
  return parts.join('; ');
}

/** What an apply added, changed and removed, by name, for the apply log line; empty lists left out. */
export function planNames(plan: Plan, limit = 50): Record<string, Record<string, string[]>> {
  const cap = (list: readonly string[]): string[] => (list.length > limit ? [...list.slice(0, limit), `... +${list.length - limit} more`] : [...list]);
  const pick = (entries: Record<string, readonly string[]>): Record<string, string[]> =>
    Object.fromEntries(Object.entries(entries).filter(([, v]) => v.length > 0).map(([k, v]) => [k, cap(v)]));
  const endpoints = (key: 'added' | 'removed' | 'reweighted'): string[] => plan.services.changed.flatMap((c) => c.endpoints[key].map((e) => `${c.name}/${e}`));
  const out: Record<string, Record<string, string[]>> = {};
  const services = pick({ added: plan.services.added, removed: plan.services.removed, changed: plan.services.changed.map((c) => `${c.name} (${c.fields.join(',')})`) });
  const eps = pick({ added: endpoints('added'), removed: endpoints('removed'), reweighted: endpoints('reweighted') });
  const listeners = pick({ added: plan.listeners.add, removed: plan.listeners.remove });
  if (Object.keys(services).length > 0) out.services = services;
  if (Object.keys(eps).length > 0) out.endpoints = eps;
  if (Object.keys(listeners).length > 0) out.listeners = listeners;
  return out;
}
