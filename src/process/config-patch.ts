// What crosses IPC on an apply: a patch from the config a worker runs to the next one, rather
// than the whole config. The supervisor sends the added and changed services (whole), the names
// of the removed ones, and the settings outside `services` only when they changed; the worker
// rebuilds the next config from its own, keeping its unchanged service objects, so its plan
// compares only the services the patch names (plan.ts recordDerivation). A worker that does not
// run the patch's base (digest) gets the whole config instead.
import type { HostPort } from '../config/address.js';
import type { Config, ServiceConfig } from '../config/model.js';
import { diffConfigs, listenAddresses, listenKeys } from '../control/plan.js';
import { topChanged, topSettings, type ConfigDigest, type DigestStep, type TopSettings } from './config-digest.js';

export interface ConfigPatch {
  /** The digest of the config the patch applies to. */
  readonly base: string;
  /** The digest of the config it makes. */
  readonly hash: string;
  /** Added and changed services, whole. */
  readonly services: readonly ServiceConfig[];
  /** Names of the services that are gone. */
  readonly removed: readonly string[];
  /** The settings outside `services`, when any of them changed. */
  readonly top?: TopSettings;
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
 * The patch from `from` (whose digest is `digest`) to `to`. Costs what changed when `to` was
 * derived from `from` (discovery applies), else one comparison per service as any plan does.
 */
export function changeBetween(from: Config, to: Config, digest: ConfigDigest): ConfigChange {
  const plan = diffConfigs(from, to);
  const services = [...plan.services.added, ...plan.services.changed.map((c) => c.name)].map((name) => to.services.get(name)!);
  const top = topChanged(from, to) ? topSettings(to) : undefined;
  const step = digest.next(services, plan.services.removed, top);
  const fresh = new Set(plan.listeners.add);
  return {
    patch: { base: digest.value, hash: step.value, services, removed: plan.services.removed, ...(top ? { top } : {}) },
    bind: listenAddresses(services).filter((a) => fresh.has(a.key)),
    release: plan.listeners.remove,
    listen: listenKeys(services),
    digest: step,
  };
}

/** Worker side: the next config, made of `current` and the patch; names every service it touched. */
export function applyPatch(current: Config, patch: ConfigPatch): { readonly config: Config; readonly touched: readonly string[] } {
  const services = new Map(current.services);
  for (const name of patch.removed) services.delete(name);
  for (const service of patch.services) services.set(service.name, service);
  const config: Config = { ...(patch.top ?? topSettings(current)), services };
  return { config, touched: [...patch.removed, ...patch.services.map((s) => s.name)] };
}
