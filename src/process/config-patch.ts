// What crosses IPC on an apply: a patch from the config a worker runs to the next one, rather
// than the whole config, with the Controller's plan for it. The supervisor sends the added and
// changed services (whole), the names of the removed ones, and the settings outside `services`
// only when they changed; the worker rebuilds the next config from its own, keeping its unchanged
// service objects, and hands its data plane the plan it was sent (computed once, by the
// Controller, which owns the running state; never again in the worker). A service whose only
// change is endpoint lists derived by a delta (discovery) travels as that delta, and the worker
// derives its own lists the same way (config/endpoint-list.ts): one endpoint changed in a
// service of 5,000 sends one endpoint. A worker that does not run the patch's base (digest) gets
// the whole config instead.
import type { HostPort } from '../config/address.js';
import type { EndpointDelta } from '../config/endpoint-delta.js';
import { deltaBetween, deriveEndpoints } from '../config/endpoint-list.js';
import type { ClusterConfig, Config, ServiceConfig } from '../config/model.js';
import { sealService } from '../config/service-identity.js';
import { listenAddresses, listenKeys, planSteps, type Plan, type PlanSteps } from '../control/plan.js';
import { topChanged, topSettings, type ConfigDigest, type DigestStep, type TopSettings } from './config-digest.js';

/** A service whose only change is in its clusters' endpoint lists, each by a delta. */
export interface EndpointPatch {
  readonly service: string;
  readonly clusters: ReadonlyArray<{ readonly cluster: string; readonly delta: EndpointDelta }>;
}

export interface ConfigPatch {
  /** The digest of the config the patch applies to. */
  readonly base: string;
  /** The digest of the config it makes. */
  readonly hash: string;
  /** Added and changed services, whole. */
  readonly services: readonly ServiceConfig[];
  /** Changed services whose only change is endpoints: the deltas. */
  readonly endpoints: readonly EndpointPatch[];
  /** Names of the services that are gone. */
  readonly removed: readonly string[];
  /** The settings outside `services`, when any of them changed. */
  readonly top?: TopSettings;
  /** The Controller's plan from the base to the next config (what the worker's data plane executes). */
  readonly plan: PlanSteps;
}

/** The supervisor's view of one apply as a patch, with the listening sockets it adds and drops. */
export interface ConfigChange {
  readonly patch: ConfigPatch;
  /** Listen addresses new to the config: bound before any worker is asked. */
  readonly bind: readonly HostPort[];
  /** Listen addresses the config no longer has: released after the commit. */
  readonly release: readonly string[];
  /** Listen addresses of the patch's services: a worker holds each before it prepares. */
  readonly listen: readonly string[];
  /** Makes the digest it was computed from name the new config. */
  readonly digest: DigestStep;
}

/**
 * The patch from `from` (whose digest is `digest`) to `to`, whose diff is `plan` (the
 * Controller's): costs what the plan names.
 */
export function changeBetween(from: Config, to: Config, plan: Plan, digest: ConfigDigest): ConfigChange {
  const whole: ServiceConfig[] = plan.services.added.map((name) => to.services.get(name)!);
  const endpoints: EndpointPatch[] = [];
  for (const { name } of plan.services.changed) {
    const next = to.services.get(name)!;
    const clusters = endpointDeltas(from.services.get(name)!, next);
    if (clusters) endpoints.push({ service: name, clusters });
    else whole.push(next);
  }
  const top = topChanged(from, to) ? topSettings(to) : undefined;
  const touched = [...whole, ...endpoints.map((p) => to.services.get(p.service)!)];
  const step = digest.next(touched, plan.services.removed, top);
  const fresh = new Set(plan.listeners.add);
  return {
    patch: { base: digest.value, hash: step.value, services: whole, endpoints, removed: plan.services.removed, ...(top ? { top } : {}), plan: planSteps(plan) },
    bind: listenAddresses(whole).filter((a) => fresh.has(a.key)),
    release: plan.listeners.remove,
    listen: listenKeys(whole),
    digest: step,
  };
}

/**
 * The deltas that make `next` from `old` when that is all that differs: every other setting the
 * same object, and each changed cluster's list derived from the old one. Null: send it whole.
 */
function endpointDeltas(old: ServiceConfig, next: ServiceConfig): EndpointPatch['clusters'] | null {
  if (!sameExcept(old, next, ['endpoints', 'clusters']) || old.clusters.size !== next.clusters.size) return null;
  // `endpoints` mirrors the default cluster's list; the worker sets it the same way.
  if (old.endpoints !== defaultList(old) || next.endpoints !== defaultList(next)) return null;
  const out: Array<{ cluster: string; delta: EndpointDelta }> = [];
  for (const [name, cluster] of next.clusters) {
    const was = old.clusters.get(name);
    if (!was) return null;
    if (was === cluster) continue;
    const delta = deltaBetween(was.endpoints, cluster.endpoints);
    if (!delta || !sameExcept(was, cluster, ['endpoints'])) return null;
    out.push({ cluster: name, delta });
  }
  return out;
}

function defaultList(s: ServiceConfig): ServiceConfig['endpoints'] | undefined {
  return s.clusters.get(s.defaultCluster)?.endpoints;
}

/** Same keys, and the same object (===) under each key but `except`. */
function sameExcept(a: object, b: object, except: readonly string[]): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  return keys.every((k) => except.includes(k) || (k in y && x[k] === y[k]));
}

/** Thrown by applyPatch when the patch names a service or cluster this config does not have. */
export class PatchMismatch extends Error {}

/**
 * Worker side: the next config, made of `current` and the patch; names every service it touched,
 * and gives the new service objects (added, changed whole, or with derived endpoint lists).
 */
export function applyPatch(current: Config, patch: ConfigPatch): { readonly config: Config; readonly touched: readonly string[]; readonly changed: readonly ServiceConfig[] } {
  const services = new Map(current.services);
  for (const name of patch.removed) services.delete(name);
  const changed = [...patch.services];
  for (const service of patch.services) services.set(service.name, service);
  for (const p of patch.endpoints ?? []) {
    const service = services.get(p.service);
    if (!service) throw new PatchMismatch(`the patch changes endpoints of ${p.service}, which this config does not have`);
    const derived = withDerivedEndpoints(service, p);
    services.set(p.service, derived);
    changed.push(derived);
  }
  const config: Config = { ...(patch.top ?? topSettings(current)), services };
  return { config, touched: [...patch.removed, ...changed.map((s) => s.name)], changed };
}

function withDerivedEndpoints(service: ServiceConfig, p: EndpointPatch): ServiceConfig {
  const clusters = new Map(service.clusters);
  for (const { cluster, delta } of p.clusters) {
    const was = clusters.get(cluster);
    if (!was) throw new PatchMismatch(`the patch changes endpoints of ${p.service}/${cluster}, which this config does not have`);
    clusters.set(cluster, Object.freeze({ ...was, endpoints: deriveEndpoints(was.endpoints, delta) }) as ClusterConfig);
  }
  const endpoints = clusters.get(service.defaultCluster)?.endpoints ?? service.endpoints;
  return sealService({ ...service, clusters, endpoints }, service);
}
