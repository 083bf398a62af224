// Every registry stores endpoints in nerve's JSON shape; one validator for all sources, so a
// malformed entry reads the same whichever registry it came from.
//
// Liberal in what nerve (and synapse, which reads the same nodes) accepts: `weight`, `name` and
// `labels` may be null (absent), label values may be any JSON type (kept as text: a number, a
// boolean or an object label still names the endpoint's metadata, and nothing in hitless routes on
// label types), and extra keys are ignored. What hitless needs to connect — host and port — stays
// strict. An entry left out is named with its reason by the caller (status and log).
import { isIP } from 'node:net';
import { z } from 'zod';
import type { DiscoveredEndpoint } from './source.js';

const endpointShape = z.object({
  host: z
    .string()
    .min(1)
    .refine((h) => isIP(h) !== 0 || isHostname(h), 'host must be an IP address or a hostname'),
  port: z.number().int().min(1).max(65535),
  name: z.string().nullish(),
  weight: z.number().int().min(0).max(1000).nullish(),
  labels: z.record(z.string(), z.unknown()).nullish(),
});

/**
 * Letters, digits, hyphens and dots, no empty label, and a last label that is not all digits
 * (RFC 3696 §2): "10.0.0.256" is a broken address, not a name to look up.
 */
function isHostname(h: string): boolean {
  return h.length <= 253 && /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h) && !/(^|\.)\d+$/.test(h);
}

/** A label value as text: strings as they are, anything else as its JSON. */
const labelText = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null'));

export type ParsedEntry = { ok: true; endpoint: DiscoveredEndpoint } | { ok: false; reason: string };

/** Validates one decoded entry (extra keys, as other registrars write, are ignored). */
export function parseEndpointValue(value: unknown): ParsedEntry {
  const parsed = endpointShape.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: `${where}${issue.message}` };
  }
  const { host, port, name, weight, labels } = parsed.data;
  const endpoint: DiscoveredEndpoint = {
    host: host.toLowerCase(),
    port,
    ...(name == null ? {} : { name }),
    ...(weight == null ? {} : { weight }),
    ...(labels == null ? {} : { labels: Object.freeze(Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, labelText(v)]))) }),
  };
  return { ok: true, endpoint: Object.freeze(endpoint) };
}

/** Parses the bytes a registry holds for one entry (a ZooKeeper node's data, an etcd value). */
export function parseEndpointJson(data: Buffer | string | null | undefined): ParsedEntry {
  const text = data === null || data === undefined ? '' : data.toString();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: `not JSON: ${JSON.stringify(text.slice(0, 60))}` };
  }
  return parseEndpointValue(value);
}

/** Splits named entries into the valid set and one problem line per malformed entry. */
export function collectEntries(entries: Iterable<readonly [string, ParsedEntry]>): {
  endpoints: DiscoveredEndpoint[];
  problems: string[];
} {
  const endpoints: DiscoveredEndpoint[] = [];
  const problems: string[] = [];
  for (const [id, entry] of entries) {
    if (entry.ok) endpoints.push(entry.endpoint);
    else problems.push(`${id}: ${entry.reason}`);
  }
  return { endpoints, problems };
}
