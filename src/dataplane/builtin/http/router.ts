// HTTP routes compiled once per config applied: first match wins, else the default cluster.
// Hosts match exactly or as "*.suffix" (case-insensitive, port ignored unless the route names
// one); paths match by prefix, as HAProxy's path_beg and Envoy's prefix do.
import type { RouteConfig } from '../../../config/model.js';
/** Picks the cluster (a ClusterRuntime in the data plane) for a request's Host and path. */
export type Router<C> = (host: string | undefined, path: string) => C;

interface CompiledRoute<C> {
  readonly exact: string | null;
  /** ".example.com" for "*.example.com". */
  readonly suffix: string | null;
  readonly withPort: boolean;
  readonly path: string | null;
  readonly cluster: C;
}

export function compileRoutes<C>(routes: readonly RouteConfig[], clusters: ReadonlyMap<string, C>, fallback: C): Router<C> {
  if (routes.length === 0) return () => fallback;
  const compiled: CompiledRoute<C>[] = routes.map((r) => ({
    exact: r.host && !r.host.startsWith('*.') ? r.host : null,
    suffix: r.host?.startsWith('*.') ? r.host.slice(1) : null,
    withPort: r.host?.includes(':') ?? false,
    path: r.path,
    cluster: clusters.get(r.cluster) ?? fallback,
  }));
  return (hostHeader, path) => {
    const full = hostHeader?.toLowerCase() ?? '';
    const colon = full.lastIndexOf(':');
    const bare = colon > full.lastIndexOf(']') ? full.slice(0, colon) : full;
    for (const r of compiled) {
      const host = r.withPort ? full : bare;
      if (r.exact !== null && host !== r.exact) continue;
      if (r.suffix !== null && !(host.endsWith(r.suffix) && host.length > r.suffix.length)) continue;
      if (r.path !== null && !path.startsWith(r.path)) continue;
      return r.cluster;
    }
    return fallback;
  };
}
