// The fast path for valid configs, incremental: a service whose text (or, for layouts that cannot
// be cut, the JSON of its parsed value) and inherited settings equal those of the last config
// parsed here is not parsed, validated or normalised again; its frozen ServiceConfig is reused,
// so the plan finds it unchanged by reference. Changed services go through the schema one by
// one; the top of the file and the checks that span services (listen addresses, admin address)
// run on every parse.
//
// This path never reports problems: null sends the text to load.ts's located parse, which reports
// every problem exactly as before.
import jsyaml from 'js-yaml';
import type { Config, ServiceConfig } from './model.js';
import { looksLikeJson, parseJsonText, splitJsonServices } from './json-text.js';
import { claimListen, finishConfig, inheritedKey, normaliseService } from './normalise.js';
import { rawConfigSchema, serviceNameSchema, serviceSchema, type RawConfig } from './schema.js';
import { sealService } from './service-identity.js';
import { splitYamlServices, type ServiceText } from './yaml-split.js';

/** What a service's key is: its YAML text, its JSON text `{...}`, or JSON.stringify of its parsed value. */
type Kind = 'yaml' | 'json' | 'value';

interface Entry {
  readonly kind: Kind;
  readonly key: string;
  readonly inherited: string;
  readonly service: ServiceConfig;
}

interface Pending {
  readonly name: string;
  readonly kind: Kind;
  readonly key: string;
}

/** Valid services of the last parses, by name; never more names than the last text had. */
let cache = new Map<string, Entry>();

/** Forgets the cached services (tests; nothing else needs it). */
export function clearParseCache(): void {
  cache = new Map();
}

/** undefined: the text could not be cut into pieces that each parse on their own. */
type Cut = Config | null | undefined;

/** A valid config from `text`, reusing unchanged services of the last one; null when not valid (or not sure). */
export function parseIncremental(text: string): Config | null {
  const cut = looksLikeJson(text) ? fromJson(text) : fromYaml(text);
  return cut !== undefined ? cut : fromWholeYaml(text);
}

function fromJson(text: string): Cut {
  const split = splitJsonServices(text, (name) => {
    const entry = cache.get(name);
    return entry?.kind === 'json' ? entry.key : undefined;
  });
  if (!split) return undefined;
  const top = parseJsonText(split.top);
  if (!isPlainMap(top) || !isPlainMap(top.services) || Object.keys(top.services).length > 0) return undefined;
  return build(top, pieces(split.services, 'json'));
}

function fromYaml(text: string): Cut {
  const split = splitYamlServices(text);
  if (!split) return undefined;
  const top = loadYaml(split.top);
  if (!isPlainMap(top) || !Object.hasOwn(top, 'services') || top.services !== null) return undefined;
  return build(top, pieces(split.services, 'yaml'));
}

/** Layouts that cannot be cut: one js-yaml parse of everything (what the fast path always did). */
function fromWholeYaml(text: string): Config | null {
  const data = loadYaml(text);
  if (!isPlainMap(data)) return null;
  const services = data.services === undefined ? {} : data.services;
  if (!isPlainMap(services)) return null;
  const pending = Object.keys(services).map((name): Pending => ({ name, kind: 'value', key: JSON.stringify(services[name]) }));
  return build(data, pending) ?? null;
}

function pieces(services: readonly ServiceText[], kind: Kind): Pending[] {
  return services.map((s) => ({ name: s.name, kind, key: s.text }));
}

/**
 * Validates the top and the changed services, reuses the rest, and runs the cross-service checks.
 * Every piece must parse on its own before any verdict: only then does each piece mean in the
 * whole text what it means alone (see yaml-split.ts), so that an invalid piece makes the whole
 * text invalid. A service that passes joins the cache at once (an entry is right for its key
 * and inherited settings whatever becomes of the config around it); the cache then keeps only
 * the names of this text.
 */
function build(data: Record<string, unknown>, pending: readonly Pending[]): Cut {
  const config = buildConfig(data, pending);
  if (cache.size > pending.length) {
    const names = new Set(pending.map((p) => p.name));
    for (const name of cache.keys()) if (!names.has(name)) cache.delete(name);
  }
  return config;
}

function buildConfig(data: Record<string, unknown>, pending: readonly Pending[]): Cut {
  const parsed = new Map<string, { readonly key: string; readonly value: unknown }>();
  for (const p of pending) {
    const entry = cache.get(p.name);
    // Parsed before; a service with TLS files (tls:, upstream_tls:) is checked again, its files may have changed.
    if (entry !== undefined && entry.kind === p.kind && entry.key === p.key && !readsFiles(entry.service)) continue;
    const key = detached(p);
    const value = parsePiece(p, key);
    if (value === undefined) return undefined;
    parsed.set(p.name, { key, value });
  }
  const topParsed = rawConfigSchema.safeParse({ ...data, services: {} });
  if (!topParsed.success) return null;
  const top = topParsed.data;
  const inherited = inheritedKey(top);
  let valid = true;
  const problem = () => (valid = false);
  const services = new Map<string, ServiceConfig>();
  const listenOwner = new Map<string, string>();
  for (const p of inObjectOrder(pending)) {
    let entry = cache.get(p.name);
    if (entry === undefined || entry.kind !== p.kind || entry.key !== p.key || entry.inherited !== inherited || readsFiles(entry.service)) {
      // New text, or known text under new inherited settings (parsed again from the cached copy).
      const piece = parsed.get(p.name) ?? { key: entry!.key, value: parsePiece(p, entry!.key) };
      const checked = checkService(p.name, p.kind, piece.key, piece.value, top, inherited);
      if (!checked) return null;
      cache.set(p.name, (entry = checked));
    }
    services.set(p.name, entry.service);
    claimListen(listenOwner, p.name, entry.service.listen, problem);
  }
  const config = finishConfig(top, services, listenOwner, problem);
  return valid ? config : null;
}

/**
 * The key as the cache keeps it: a copy, so that nothing the cache keeps holds on to the text of
 * the whole config it was cut from (a slice of a string keeps all of it alive), and everything
 * parsed from it refers to the copy only.
 */
function detached(p: Pending): string {
  return p.kind === 'value' ? p.key : Buffer.from(p.key, 'utf8').toString('utf8');
}

/**
 * The raw value of one service, or undefined when its piece does not parse on its own. 'value'
 * goes through JSON.stringify and back: the same value, but for -0, which becomes 0 (equal as far
 * as === and the plan go).
 */
function parsePiece(p: Pending, key: string): unknown {
  if (p.kind === 'json') return parseJsonText(key);
  if (p.kind === 'value') return JSON.parse(key);
  const parsed = loadYaml(key);
  // The piece must hold its own name and nothing else (a name like 007 reads as 7: not cut).
  if (!isPlainMap(parsed) || !Object.hasOwn(parsed, p.name) || Object.keys(parsed).length !== 1) return undefined;
  return parsed[p.name];
}

function checkService(name: string, kind: Kind, key: string, value: unknown, top: RawConfig, inherited: string): Entry | null {
  if (!serviceNameSchema.safeParse(name).success) return null;
  const parsed = serviceSchema.safeParse(value);
  if (!parsed.success) return null;
  let valid = true;
  const service = normaliseService(name, parsed.data, top, () => (valid = false));
  if (!valid) return null;
  return { kind, key, inherited, service: sealService(service) };
}

/** The order in which the full parse lists services: that of an object's keys (array indices first). */
function inObjectOrder(pending: readonly Pending[]): readonly Pending[] {
  if (!pending.some((p) => isArrayIndex(p.name))) return pending;
  const byName: Record<string, Pending> = {};
  for (const p of pending) byName[p.name] = p;
  return Object.values(byName);
}

function isArrayIndex(name: string): boolean {
  const first = name.charCodeAt(0);
  return first >= 0x30 && first <= 0x39 && /^(?:0|[1-9][0-9]*)$/.test(name) && Number(name) < 2 ** 32 - 1;
}

function loadYaml(text: string): unknown {
  try {
    return jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA });
  } catch {
    return undefined;
  }
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A service whose config names TLS files: parsing it again reads them again. */
function readsFiles(service: ServiceConfig): boolean {
  if (service.tls) return true;
  for (const cluster of service.clusters.values()) if (cluster.upstreamTls) return true;
  return false;
}
