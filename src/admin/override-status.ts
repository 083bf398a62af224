// Endpoint overrides in GET /status: each overridden endpoint carries `override: {state, weight,
// since, by}` beside what the data plane reports (whose `weight` is the one in effect: 0 while
// drained or in maintenance), and the `overrides` section lists them all, those whose address is
// not in the service now included, with the state file and its last error. Services without an
// override are passed through untouched: at 10,000 endpoints this costs nothing when none is set.
import type { EndpointOverrides, OverrideListing } from '../control/endpoint-overrides.js';
import type { EndpointStatus, ServiceStatus } from '../dataplane/driver.js';

export interface EndpointOverrideView {
  readonly state: 'drain' | 'maint' | null;
  readonly weight: number | null;
  readonly since: string;
  readonly by: string;
}

export type EndpointStatusWithOverride = EndpointStatus & { readonly override?: EndpointOverrideView };

export function withOverrides<S extends { readonly services: readonly ServiceStatus[] }>(
  doc: S,
  overrides: EndpointOverrides | undefined,
): S & { readonly overrides: OverrideListing | null } {
  if (!overrides) return { ...doc, overrides: null };
  const listing = overrides.list();
  if (overrides.size === 0) return { ...doc, overrides: listing };
  const touched = new Set(listing.overrides.map((o) => o.service));
  const services = doc.services.map((service) => {
    if (!touched.has(service.name)) return service;
    const endpoints = service.endpoints.map((e): EndpointStatusWithOverride => {
      const o = overrides.get(service.name, e.address);
      return o ? { ...e, override: { state: o.state, weight: o.weight, since: o.since, by: o.by } } : e;
    });
    return { ...service, endpoints };
  });
  return { ...doc, services, overrides: listing };
}
