// Text → validated, frozen Config. Every problem is reported with file:line:col and key path.
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, formatPath, type ConfigProblem } from './errors.js';
import { sha256Hex } from './hash.js';
import { describe } from './parsed-string.js';
import { rawConfigSchema } from './schema.js';
import type { ConfigSnapshot } from './model.js';
import { DISCOVERY_ALLOWED_KEYS } from './discovery-schema.js';
import { TLS_ALLOWED_KEYS } from './tls-schema.js';
import { UPSTREAM_TLS_ALLOWED_KEYS } from './upstream-tls-schema.js';
import { HAPROXY_PASSTHROUGH_KEYS } from './haproxy-passthrough.js';
import { parseIncremental } from './incremental.js';
import { normalise } from './normalise.js';

/**
 * Parses YAML (JSON is YAML too) into a snapshot; throws ConfigError listing every problem.
 * A valid config takes the incremental fast path (incremental.ts), which reuses the services that
 * did not change since the last parse; anything it doubts is parsed again here with positions.
 */
export function parseConfig(text: string, file: string): ConfigSnapshot {
  const config = parseIncremental(text);
  if (config) return Object.freeze({ config, source: file, text, hash: sha256Hex(text) });
  return parseConfigLocated(text, file);
}

/** The whole text through the parser that keeps positions, no cache: the reference the fast path must agree with. */
export function parseConfigLocated(text: string, file: string): ConfigSnapshot {
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
  return Object.freeze({ config, source: file, text, hash: sha256Hex(text) });
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

/** Tokens never appear in a message: problems reach logs, the audit log and GET /status, which the read-only token sees. */
const SECRET_PATHS = new Set(['admin.token', 'admin.read_token']);

function describeAt(path: readonly PropertyKey[], value: unknown): string {
  if (typeof value === 'string' && SECRET_PATHS.has(path.join('.'))) return `a string of ${value.length} characters (not shown: a secret)`;
  if (path[path.length - 1] === 'passphrase') return 'a value (not shown: a secret)';
  return describe(value);
}

function issueProblems(issue: z.core.$ZodIssue, doc: Document, at: At): ConfigProblem[] {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) =>
        at(locate(doc, [...path, key], true), [...path, key], `unknown key "${key}"${allowedKeysHint(path)}`),
      );
    case 'invalid_type':
      return [at(locate(doc, path, false), path, `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, found ${describeAt(path, issue.input)}`)];
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
      return [at(locate(doc, path, false), path, `expected ${what}, found ${describeAt(path, issue.input ?? valueAt(doc, path))}`)];
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
  admin: ['listen', 'token', 'read_token', 'api_apply', 'audit_log'],
  defaults: ['balance', 'timeouts', 'health', 'limits', 'retries', 'max_connections'],
  service: ['mode', 'listen', 'balance', 'endpoints', 'health', 'clusters', 'routes', 'timeouts', 'limits', 'retries', 'max_connections', 'discovery', 'access_log', 'tls', 'upstream_tls', 'haproxy'],
  service_haproxy: HAPROXY_PASSTHROUGH_KEYS,
  access_log: ['path', 'format'],
  cluster: ['balance', 'endpoints', 'health', 'upstream_tls'],
  timeouts: ['connect', 'idle', 'drain', 'header', 'response', 'handshake'],
  health: ['active', 'passive'],
  active: ['type', 'path', 'interval', 'timeout', 'rise', 'fall'],
  passive: ['consecutive_failures', 'ejection'],
  limits: ['max_header_bytes', 'max_url_bytes'],
  route: ['host', 'path', 'cluster'],
  endpoint: ['address', 'weight'],
  ...DISCOVERY_ALLOWED_KEYS,
  ...TLS_ALLOWED_KEYS,
  ...UPSTREAM_TLS_ALLOWED_KEYS,
};

function allowedKeysHint(path: readonly PropertyKey[]): string {
  const last = path[path.length - 1];
  let kind: string;
  if (path.length === 0) kind = '';
  else if (path[0] === 'services' && path.length === 2) kind = 'service';
  else if (path[2] === 'clusters' && path.length === 4) kind = 'cluster';
  else if (path[2] === 'routes' && path.length === 4) kind = 'route';
  else if (path[0] === 'services' && path[2] === 'haproxy' && path.length === 3) kind = 'service_haproxy';
  else if (last === 'timeouts') kind = 'timeouts';
  else if (path[0] === 'register' && path.length === 2) kind = 'registration';
  else if (typeof last === 'number' && path[path.length - 2] === 'endpoints') kind = 'endpoint';
  else if (typeof last === 'number' && path[path.length - 2] === 'certificates') kind = 'certificate';
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
