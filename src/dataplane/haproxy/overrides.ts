// Endpoint overrides on the HAProxy data plane, with HAProxy's own means: a weight override is
// rendered into the server's weight (so it goes through the runtime API as any reweight does, and
// a reload's server-state file carries it), and drain/maint are HAProxy's admin states, set with
// `set server B/S state drain|maint|ready` after every commit. HAProxy's maint also stops the
// server's health checks, as the builtin plane's does.
import type { ClusterConfig, Config, ServiceConfig } from '../../config/model.js';
import type { AdminState, OverrideTable } from '../endpoint-override.js';
import type { RenderedConfig } from './render-config.js';

/** `config` with the overrides' weights in place of the configured ones (only the services that have one are copied). */
export function withOverrideWeights(config: Config, table: OverrideTable): Config {
  let services: Map<string, ServiceConfig> | null = null;
  for (const [name, entries] of table) {
    const service = config.services.get(name);
    if (!service || ![...entries.values()].some((o) => o.weight !== null)) continue;
    const clusters = new Map<string, ClusterConfig>();
    for (const [clusterName, cluster] of service.clusters) {
      const endpoints = cluster.endpoints.map((e) => {
        const weight = entries.get(e.key)?.weight;
        return weight === undefined || weight === null || weight === e.weight ? e : { ...e, weight };
      });
      clusters.set(clusterName, { ...cluster, endpoints });
    }
    services ??= new Map(config.services);
    services.set(name, { ...service, clusters, endpoints: clusters.get(service.defaultCluster)?.endpoints ?? service.endpoints });
  }
  return services ? { ...config, services } : config;
}

/** "backend/server" → the admin state the overrides want for each rendered server that has one. */
export function wantedStates(rendered: RenderedConfig, table: OverrideTable): Map<string, AdminState> {
  const wanted = new Map<string, AdminState>();
  for (const backend of rendered.backends.values()) {
    const entries = table.get(backend.service);
    if (!entries) continue;
    for (const server of backend.servers.values()) {
      const state = entries.get(server.endpoint)?.state;
      if (state) wanted.set(`${backend.name}/${server.name}`, state);
    }
  }
  return wanted;
}

/** Whether "backend/server" is a server of the rendered config. */
export function hasServer(rendered: RenderedConfig, id: string): boolean {
  const slash = id.indexOf('/');
  return rendered.backends.get(id.slice(0, slash))?.servers.has(id.slice(slash + 1)) ?? false;
}
