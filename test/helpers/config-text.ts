// Builds hitless config files for tests: plain objects in the documented shape, rendered as YAML.
import { stringify } from 'yaml';

export type EndpointSpec = string | { address: string; weight?: number };

export interface ServiceSpec {
  listen: string | string[];
  mode?: 'tcp';
  balance?: 'round-robin' | 'least-conn' | 'random-two' | 'source-hash';
  endpoints?: EndpointSpec[];
  timeouts?: { connect?: string; idle?: string; drain?: string };
  retries?: number;
  max_connections?: number;
}

export interface ConfigSpec {
  /** "unix:/path" of the admin API. */
  admin: string;
  services: Record<string, ServiceSpec>;
}

export function renderConfig(spec: ConfigSpec): string {
  return stringify({ admin: { listen: spec.admin }, services: spec.services }, { lineWidth: 0 });
}

export const loopback = (port: number): string => `127.0.0.1:${port}`;
