// Text → validated, frozen Config. Every problem is reported with file:line:col and key path.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import jsyaml from 'js-yaml';
import type { z } from 'zod';
import { ConfigError, formatPath, type ConfigProblem } from './errors.js';
import { DEFAULTS, describe, rawConfigSchema, type RawConfig } from './schema.js';
import type { Config, ConfigSnapshot, ServiceConfig } from './model.js';
import { normaliseClusters } from './normalise-clusters.js';
import { freezeMap } from './freeze-map.js';
import { setFingerprint } from './fingerprint.js';
import { DISCOVERY_ALLOWED_KEYS, normaliseDiscovery, normaliseDiscoverySettings, normaliseRegistrations } from './discovery-schema.js';
import { isLoopback, parseAdminAddress } from './address.js';

export function hashConfigText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Parses YAML (JSON is YAML too) into a snapshot; throws ConfigError listing every problem. */
export function parseConfig(text: string, file: string): ConfigSnapshot {
  const config = parseFast(text);
  if (config) return Object.freeze({ config, source: file, text, hash: hashConfigText(text) });
  return parseLocated(text, file);
}

/**
 * The common case, a valid config, through a parser about ten times faster than the one that
 * tracks positions. Anything wrong and we parse again with positions to report it precisely.
 */
function parseFast(text: string): Config | null {
  let data: unknown;
  try {
    data = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA });
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const parsed = rawConfigSchema.safeParse(data);
  if (!parsed.success) return null;
  let valid = true;
  const config = normalise(parsed.data, () => (valid = false));
  return valid ? config : null;
}

function parseLocated(text: string, file: string): ConfigSnapshot {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number, path: readonly PropertyKey[], message: string): ConfigProblem => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col, path: formatPath(path), message };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => at(e.pos[0], [], `malformed YAML: ${firstLine(e.message)}`)));
  }
  const data = doc.toJS();
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError([at(0, [], `expected a map with "services:" at the top, found ${describe(data)}`)]);
  }
  const parsed = rawConfigSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => issueProblems(issue, doc, at));
    throw new ConfigError(problems.sort((a, b) => a.line - b.line || a.col - b.col));
  }
  const problems: ConfigProblem[] = [];
  const config = normalise(parsed.data, (path, message) => problems.push(at(locate(doc, path, false), path, message)));
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ config, source: file, text, hash: hashConfigText(text) });
}

export async function loadConfigFile(path: string): Promise<ConfigSnapshot> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([{ file: path, line: 1, col: 1, path: '', message: `cannot read the config: ${reason}` }]);
  }
  return parseConfig(text, path);
}

type At = (offset: number, path: readonly PropertyKey[], message: string) => ConfigProblem;

function issueProblems(issue: z.core.$ZodIssue, doc: Document, at: At): ConfigProblem[] {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) =>
        at(locate(doc, [...path, key], true), [...path, key], `unknown key "${key}"${allowedKeysHint(path)}`),
      );
    case 'invalid_type':
      return [at(locate(doc, path, false), path, `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, found ${describe(issue.input)}`)];
    case 'invalid_value':
      return [
        at(
          locate(doc, path, false),
          path,
          `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${describe(issue.input)}`,
        ),
      ];
    case 'invalid_union': {
      // Report the most specific branch: the one whose problems lie deepest in the input.
      const branches = issue.errors.filter((b) => b.length > 0);
      const best = branches.sort((a, b) => depth(b) - depth(a))[0];
      if (best && depth(best) > 0) {
        return best.flatMap((inner) => issueProblems({ ...inner, path: [...path, ...inner.path] } as z.core.$ZodIssue, doc, at));
      }
      const found = describe(valueAt(doc, path));
      const message = best?.[0]?.message.startsWith('expected') ? best[0].message : `unexpected value, found ${found}`;
      return [at(locate(doc, path, false), path, message)];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? `>= ${issue.minimum}` : `<= ${issue.maximum}`;
      const what = issue.origin === 'array' ? `a list with length ${bound}` : issue.origin === 'string' ? `a string with length ${bound}` : `a number ${bound}`;
      return [at(locate(doc, path, false), path, `expected ${what}, found ${describe(issue.input ?? valueAt(doc, path))}`)];
    }
    case 'invalid_key': {
      // A map key that fails its own rule (service and cluster names): report the rule.
      const inner = issue.issues[0]?.message ?? 'invalid name';
      const key = path[path.length - 1];
      return [at(locate(doc, path, true), path, `${inner}, found ${describe(key)}`)];
    }
    default:
      return [at(locate(doc, path, false), path, issue.message)];
  }
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a map',
  record: 'a map',
  array: 'a list',
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
};

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(...issues.map((i) => i.path.length + (i.code === 'invalid_type' ? 0 : 0.5)));
}

const ALLOWED_KEYS: Record<string, readonly string[]> = {
  '': ['admin', 'defaults', 'services', 'discovery_defaults', 'register', 'dataplane'],
  dataplane: ['driver', 'haproxy'],
  haproxy: ['binary', 'state_dir', 'threads', 'hard_stop_after', 'max_reloads'],
  admin: ['listen', 'token', 'audit_log'],
  defaults: ['balance', 'timeouts', 'health', 'limits', 'retries', 'max_connections'],
  service: ['mode', 'listen', 'balance', 'endpoints', 'health', 'clusters', 'routes', 'timeouts', 'limits', 'retries', 'max_connections', 'discovery', 'access_log'],
  access_log: ['path', 'format'],
  cluster: ['balance', 'endpoints', 'health'],
  timeouts: ['connect', 'idle', 'drain', 'header', 'response'],
  health: ['active', 'passive'],
  active: ['type', 'path', 'interval', 'timeout', 'rise', 'fall'],
  passive: ['consecutive_failures', 'ejection'],
  limits: ['max_header_bytes', 'max_url_bytes'],
  route: ['host', 'path', 'cluster'],
  endpoint: ['address', 'weight'],
  ...DISCOVERY_ALLOWED_KEYS,
};

function allowedKeysHint(path: readonly PropertyKey[]): string {
  const last = path[path.length - 1];
  let kind: string;
  if (path.length === 0) kind = '';
  else if (path[0] === 'services' && path.length === 2) kind = 'service';
  else if (path[2] === 'clusters' && path.length === 4) kind = 'cluster';
  else if (path[2] === 'routes' && path.length === 4) kind = 'route';
  else if (last === 'timeouts') kind = 'timeouts';
  else if (path[0] === 'register' && path.length === 2) kind = 'registration';
  else if (typeof last === 'number' && path[path.length - 2] === 'endpoints') kind = 'endpoint';
  else kind = String(last);
  const allowed = ALLOWED_KEYS[kind];
  return allowed ? `; allowed here: ${allowed.join(', ')}` : '';
}

/** Source offset of the node at `path` (or of its key, or of the nearest existing parent). */
function locate(doc: Document, path: readonly PropertyKey[], atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) break;
      if (atKey && i === path.length - 1) return rangeStart(pair.key) ?? offset;
      node = pair.value;
      offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      offset = rangeStart(node) ?? offset;
    } else break;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null)?.range?.[0];
}

function valueAt(doc: Document, path: readonly PropertyKey[]): unknown {
  const node = doc.getIn(path as Iterable<unknown>, false);
  return node;
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}

/** Applies defaults and the checks that span several keys (duplicate listeners, admin clashes). */
function fingerprinted(print: string, service: ServiceConfig): ServiceConfig {
  const frozen = Object.freeze(service);
  setFingerprint(frozen, print);
  return frozen;
}

function normalise(raw: RawConfig, problem: (path: PropertyKey[], message: string) => void): Config {
  const d = raw.defaults ?? {};
  const services = new Map<string, ServiceConfig>();
  const listenOwner = new Map<string, string>();
  // Settings every service inherits are part of each service's fingerprint.
  const inherited = JSON.stringify([raw.defaults ?? null, raw.discovery_defaults ?? null]);
  for (const [name, s] of Object.entries(raw.services)) {
    s.listen.forEach((addr, i) => {
      const owner = listenOwner.get(addr.key);
      const path = ['services', name, 'listen', ...(s.listen.length > 1 ? [i] : [])];
      if (owner) problem(path, `listen address ${addr.key} is already used by service "${owner}"; each address belongs to one service`);
      else listenOwner.set(addr.key, name);
    });
    const mode = s.mode ?? DEFAULTS.mode;
    const clusters = normaliseClusters(name, s, d, mode, problem);
    const main = clusters.clusters.get(clusters.defaultCluster);
    services.set(
      name,
      fingerprinted(`${inherited}\n${JSON.stringify(s)}`, {
        name,
        mode,
        listen: Object.freeze(s.listen),
        balance: main?.balance ?? DEFAULTS.balance,
        endpoints: main?.endpoints ?? Object.freeze([]),
        health: main?.health ?? Object.freeze({ active: null, passive: null }),
        ...clusters,
        limits: Object.freeze({
          maxHeaderBytes: s.limits?.max_header_bytes ?? d.limits?.max_header_bytes ?? DEFAULTS.limits.maxHeaderBytes,
          maxUrlBytes: s.limits?.max_url_bytes ?? d.limits?.max_url_bytes ?? DEFAULTS.limits.maxUrlBytes,
        }),
        timeouts: Object.freeze({
          connect: s.timeouts?.connect ?? d.timeouts?.connect ?? DEFAULTS.timeouts.connect,
          idle: s.timeouts?.idle ?? d.timeouts?.idle ?? (mode === 'http' ? DEFAULTS.httpIdle : DEFAULTS.timeouts.idle),
          drain: s.timeouts?.drain ?? d.timeouts?.drain ?? DEFAULTS.timeouts.drain,
          header: s.timeouts?.header ?? d.timeouts?.header ?? DEFAULTS.timeouts.header,
          response: s.timeouts?.response ?? d.timeouts?.response ?? DEFAULTS.timeouts.response,
        }),
        retries: s.retries ?? d.retries ?? DEFAULTS.retries,
        maxConnections: s.max_connections ?? d.max_connections ?? null,
        discovery: normaliseDiscovery(s.discovery, raw.discovery_defaults),
        accessLog: s.access_log ? Object.freeze({ path: s.access_log.path, format: s.access_log.format ?? DEFAULTS.accessLogFormat }) : null,
      }),
    );
  }
  const defaultAdmin = parseAdminAddress(DEFAULTS.adminListen);
  const adminListen = raw.admin?.listen ?? (defaultAdmin.ok ? defaultAdmin.value : undefined)!;
  if (adminListen.kind === 'tcp' && listenOwner.has(adminListen.key)) {
    problem(['admin', 'listen'], `admin address ${adminListen.key} is also the listen address of service "${listenOwner.get(adminListen.key)}"`);
  }
  // Anyone who can reach a non-loopback admin port could reconfigure the proxy: demand a token.
  if (adminListen.kind === 'tcp' && !isLoopback(adminListen.host) && !raw.admin?.token) {
    problem(['admin', 'listen'], `admin address ${adminListen.key} is not loopback: set admin.token (16+ characters) so that only holders of it can change the config, or listen on 127.0.0.1 or a unix socket`);
  }
  return Object.freeze({
    admin: Object.freeze({ listen: adminListen, token: raw.admin?.token ?? null, auditLog: raw.admin?.audit_log ?? null }),
    services: freezeMap(services),
    discovery: normaliseDiscoverySettings(raw.discovery_defaults),
    register: normaliseRegistrations(raw.register),
    dataplane: normaliseDataplane(raw.dataplane),
  });
}

function normaliseDataplane(raw: RawConfig['dataplane']): Config['dataplane'] {
  const d = DEFAULTS.dataplane.haproxy;
  const h = raw?.haproxy;
  return Object.freeze({
    driver: raw?.driver ?? DEFAULTS.dataplane.driver,
    haproxy: Object.freeze({
      binary: h?.binary ?? d.binary,
      stateDir: h?.state_dir ?? d.stateDir,
      threads: h?.threads ?? d.threads,
      hardStopAfter: h?.hard_stop_after ?? d.hardStopAfter,
      maxReloads: h?.max_reloads ?? d.maxReloads,
    }),
  });
}
