// Runtime endpoint overrides (HAProxy's `set server`): an overlay on what the config says, kept
// by the data plane as runtime state rather than written into the config, so that every apply
// (PUT /config, SIGHUP, discovery) leaves it in place. Keyed by service name and endpoint address
// ("host:port", as EndpointConfig.key), it covers that address in every cluster of the service,
// and it waits for an address that is not there (yet): it applies when the endpoint appears.

/** `drain`: no new connections or requests, established ones continue, health checks continue.
 * `maint`: the same, and active health checks stop for it. (Ready is the absence of a state.) */
export type AdminState = 'drain' | 'maint';

export const ADMIN_STATES: readonly AdminState[] = ['drain', 'maint'];

export interface EndpointOverride {
  /** null: the state the config and health checks give it (HAProxy's "ready"). */
  readonly state: AdminState | null;
  /** Balancing weight in place of the configured one (0-1000); null: the configured weight. */
  readonly weight: number | null;
}

/** service name → endpoint address → override. Plain Maps: it crosses IPC to the workers as it is. */
export type OverrideTable = ReadonlyMap<string, ReadonlyMap<string, EndpointOverride>>;

export const EMPTY_OVERRIDES: OverrideTable = new Map();

/** The weight a balancer should use: 0 while drained or in maintenance (no new traffic), else the override's or the configured one. */
export function effectiveWeight(override: EndpointOverride | undefined, configured: number): number {
  if (!override) return configured;
  if (override.state !== null) return 0;
  return override.weight ?? configured;
}

/** Names of the services whose overrides differ between two tables (what a data plane must revisit). */
export function changedServices(before: OverrideTable, after: OverrideTable): string[] {
  const names = new Set<string>();
  for (const [service, entries] of after) if (!sameEntries(before.get(service), entries)) names.add(service);
  for (const service of before.keys()) if (!after.has(service)) names.add(service);
  return [...names];
}

function sameEntries(a: ReadonlyMap<string, EndpointOverride> | undefined, b: ReadonlyMap<string, EndpointOverride>): boolean {
  if (!a || a.size !== b.size) return false;
  for (const [address, o] of b) {
    const p = a.get(address);
    if (!p || p.state !== o.state || p.weight !== o.weight) return false;
  }
  return true;
}
