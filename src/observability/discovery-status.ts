// Reads the `discovery` section of GET /status (discovery/source-tracker.ts describes it) without
// depending on its exact type: metrics and the dashboard need only source, state, freshness and
// endpoint count. Unknown shapes yield no rows rather than errors.

export interface DiscoveryRow {
  readonly service: string;
  readonly source: string;
  readonly state: string;
  readonly healthy: boolean;
  /** Unix seconds, or null when never updated. */
  readonly lastUpdate: number | null;
  readonly endpoints: number;
  /** What is wrong now (a failing source, or why a reported set is held); null when nothing is. */
  readonly problem: string | null;
  /** Endpoints in the reported set a guard holds instead of applying; null when none is held. */
  readonly held: number | null;
}

type Loose = Record<string, unknown>;

export function discoveryRows(section: unknown): DiscoveryRow[] {
  if (section === null || typeof section !== 'object') return [];
  // Either a list of sources, or { sources: [...] }, or { serviceName: {...} }.
  const list: Array<[string | null, Loose]> = Array.isArray(section)
    ? section.map((s) => [null, s as Loose])
    : Array.isArray((section as Loose).sources)
      ? ((section as Loose).sources as Loose[]).map((s) => [null, s])
      : Object.entries(section as Loose).filter(([, v]) => v !== null && typeof v === 'object' && !Array.isArray(v)).map(([k, v]) => [k, v as Loose]);
  return list.flatMap(([key, s]) => {
    const service = str(s.service) ?? key;
    if (!service) return [];
    const state = str(s.state) ?? str(s.status) ?? 'unknown';
    const endpoints = Array.isArray(s.endpoints) ? s.endpoints.length : num(s.endpoints) ?? num(s.endpointCount) ?? 0;
    return [{
      service,
      source: str(s.source) ?? str(s.description) ?? str(s.kind) ?? str(s.type) ?? 'discovery',
      state,
      healthy: typeof s.healthy === 'boolean' ? s.healthy : ['ok', 'up', 'healthy', 'watching', 'ready'].includes(state),
      lastUpdate: timestamp(s.lastUpdate ?? s.lastUpdateAt ?? s.updatedAt ?? s.lastChange),
      endpoints,
      problem: str(s.lastError) ?? str(s.error),
      held: s.held !== null && typeof s.held === 'object' ? num((s.held as Loose).endpoints) : null,
    }];
  });
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function timestamp(v: unknown): number | null {
  if (typeof v === 'number') return v > 1e11 ? v / 1000 : v;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms / 1000;
  }
  return null;
}
