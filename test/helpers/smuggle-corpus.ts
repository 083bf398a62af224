// A seeded generator of attacker requests (request smuggling, routing confusion, blind tunnels) and
// of the malicious endpoint answers to them, for the invariant harness (smuggle-harness.ts). A case
// replays from its seed alone: the same seed gives the same bytes, and the id namespace ("k" for
// hitless, "h" for HAProxy) changes only the ids, never a length.
//
// Every request the attacker means to send carries a unique id in its path ("/r/<id>") and in an
// x-req-id header; requests hidden in bodies carry ids too, so that the endpoint can tell which
// bytes it parsed as a request. The generator builds a request as parts (request line, header lines
// with their own separators and line ends, body), applies a family (the attack idea) and then a few
// generic mutations (whitespace, case, duplicates, obs-fold, control bytes...).

/** mulberry32: tiny, seeded, reproducible. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// Routing: the clusters, and the route table hitless is configured with (first match wins).

export type ClusterName = 'A' | 'ADMIN' | 'WILD' | 'DEFAULT';
export const CLUSTERS: readonly ClusterName[] = ['A', 'ADMIN', 'WILD', 'DEFAULT'];

/** The config's routes, in order; `route()` below is the same table as code. */
export const ROUTES: ReadonlyArray<{ host?: string; path?: string; cluster: ClusterName }> = [
  { host: 'a.example', cluster: 'A' },
  { path: '/admin', cluster: 'ADMIN' },
  { host: '*.w.example', cluster: 'WILD' },
  { cluster: 'DEFAULT' },
];

/** Route as hitless documents it: host case-insensitive without its port, path by prefix. */
export function route(host: string | undefined, path: string): ClusterName {
  const full = (host ?? '').toLowerCase();
  const colon = full.lastIndexOf(':');
  const bare = colon > full.lastIndexOf(']') ? full.slice(0, colon) : full;
  for (const r of ROUTES) {
    if (r.host !== undefined) {
      if (r.host.startsWith('*.')) {
        const suffix = r.host.slice(1);
        if (!(bare.endsWith(suffix) && bare.length > suffix.length)) continue;
      } else if (bare !== r.host) continue;
    }
    if (r.path !== undefined && !path.startsWith(r.path)) continue;
    return r.cluster;
  }
  return 'DEFAULT';
}

/** Host and path prefix a legitimate request uses to reach a cluster. */
export function targetOf(cluster: ClusterName): { host: string; prefix: string } {
  switch (cluster) {
    case 'A':
      return { host: 'a.example', prefix: '' };
    case 'ADMIN':
      return { host: 'd.example', prefix: '/admin' };
    case 'WILD':
      return { host: 'x.w.example', prefix: '' };
    default:
      return { host: 'd.example', prefix: '' };
  }
}

// ---------------------------------------------------------------------------------------------
// Ids

/** Every id is 10 characters: namespace letter, 8 for the case, 1 for the slot. */
export function caseId(ns: string, seed: number, slot: number): string {
  return `${ns}${(seed >>> 0).toString(36).padStart(8, '0')}${slot.toString(36)}`;
}

/** The id an evil endpoint puts on bytes nobody asked for (extra, late responses): slot "z". */
export function markerOf(id: string): string {
  return `${id.slice(0, 9)}z`;
}

/** Ids as they appear in paths (/r/<id>) and in x-echo-id / x-req-id values. */
export const ID_PATTERN = /[a-z][0-9a-z]{9}/;

// ---------------------------------------------------------------------------------------------
// Malicious endpoint answers (to the attacker's primary request only)

export const EVIL_MODES = [
  'conn-cl', // Connection: content-length + Content-Length + body
  'conn-te', // Connection: transfer-encoding + chunked body
  'extra-bytes', // garbage after a complete response
  'two-responses', // a second whole response after the first
  'late-response', // a whole response 20 ms after the first, on an idle connection
  '101-unrequested', // 101 Switching Protocols to a request that asked for no upgrade
  'upgrade-200', // 200 (length-framed) to an upgrade request
  'upgrade-200-raw', // 200 to an upgrade request, then raw bytes
  '204-body', // 204 with a Content-Length and that many bytes (a response)
  '304-body', // 304 with a Content-Length and that many bytes
  'lf-only', // response head lines ended by bare LF
  'cl-te', // Content-Length and Transfer-Encoding: chunked, lengths disagree
  'close-after-head', // a head promising a body, then the connection closes
  'dup-cl', // two different Content-Lengths
  'http10-nolength', // HTTP/1.0 200 without length, connection kept open
] as const;
export type EvilMode = (typeof EVIL_MODES)[number];

// ---------------------------------------------------------------------------------------------
// Request drafts

interface HeaderLine {
  name: string;
  /** The bytes between the name and the value (": " normally). */
  sep: string;
  value: string;
  /** The line end ("\r\n" normally). */
  eol: string;
}

interface Draft {
  method: string;
  sp1: string;
  target: string;
  sp2: string;
  version: string;
  eol0: string;
  headers: HeaderLine[];
  /** The blank line ending the head. */
  end: string;
  body: string;
}

function h(name: string, value: string): HeaderLine {
  return { name, sep: ': ', value, eol: '\r\n' };
}

function serialize(d: Draft): string {
  let s = `${d.method}${d.sp1}${d.target}${d.sp2}${d.version}${d.eol0}`;
  for (const x of d.headers) s += `${x.name}${x.sep}${x.value}${x.eol}`;
  return s + d.end + d.body;
}

/** A well-formed request for `id` to `cluster`. */
function legit(id: string, cluster: ClusterName, method = 'GET', version = 'HTTP/1.1'): Draft {
  const t = targetOf(cluster);
  return {
    method,
    sp1: ' ',
    target: `${t.prefix}/r/${id}`,
    sp2: ' ',
    version,
    eol0: '\r\n',
    headers: [h('Host', t.host), h('x-req-id', id)],
    end: '\r\n',
    body: '',
  };
}

/** A whole request as text (for bodies and pipelines). */
function legitText(id: string, cluster: ClusterName, extra = ''): string {
  const t = targetOf(cluster);
  return `GET ${t.prefix}/r/${id} HTTP/1.1\r\nHost: ${t.host}\r\nx-req-id: ${id}\r\n${extra}\r\n`;
}

function setBody(d: Draft, body: string, length: 'cl' | 'none' = 'cl'): void {
  d.body = body;
  if (length === 'cl') d.headers.push(h('Content-Length', String(body.length)));
}

function find(d: Draft, lower: string): HeaderLine | undefined {
  return d.headers.find((x) => x.name.toLowerCase() === lower);
}

function insert(r: Rng, d: Draft, line: HeaderLine): void {
  d.headers.splice(r.int(d.headers.length + 1), 0, line);
}

function chunk(data: string): string {
  return `${data.length.toString(16)}\r\n${data}\r\n`;
}

// ---------------------------------------------------------------------------------------------
// The case

export interface SmuggleCase {
  readonly seed: number;
  readonly ns: string;
  readonly family: string;
  readonly mutations: readonly string[];
  /** The hitless request path the primary request is built for. */
  readonly shape: 'raw' | 'node';
  /** Written first, in one write, or in `pieces` writes when set. */
  readonly attack: Buffer;
  readonly pieces: number;
  /** A normal request sent after the attack: pipelined with it, after its first response, or not at all. */
  readonly followUp: Buffer | null;
  readonly followMode: 'pipelined' | 'after' | 'none';
  /** The primary request's id (answered by the evil mode, if any). */
  readonly primary: string;
  readonly followId: string | null;
  /** Every id in the attacker's bytes. */
  readonly ids: readonly string[];
  readonly evil: EvilMode | null;
  /** An upper bound on the requests the attacker sent (request lines in its bytes). */
  readonly requestLines: number;
  /** The requests a proxy that reads the case as meant answers: primary, pipelined, follow-up. */
  readonly expectedAnswers: number;
}

interface Building {
  r: Rng;
  d: Draft;
  ids: string[];
  next: () => string;
  family: string;
  shape: 'raw' | 'node';
  /** Bytes written after the draft in the same write (pipelined extra requests). */
  tail: string;
  evil: EvilMode | null;
  noFollow?: boolean;
}

type Family = (b: Building) => void;

const HIDDEN_CLUSTERS: readonly ClusterName[] = ['ADMIN', 'A', 'WILD'];

/** A request hidden in a body: the endpoint must never parse it as a request of its own. */
function hidden(b: Building): string {
  return legitText(b.next(), b.r.pick(HIDDEN_CLUSTERS));
}

const LISTED = ['content-length', 'Content-Length', 'host', 'transfer-encoding', 'keep-alive, content-length', 'close, content-length', 'host, content-length', 'x-foo, Host', 'content-length , host', 'upgrade', 'te', 'x-forwarded-for', 'forwarded'];
const TE_VALUES = ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'chunked, identity', 'identity, chunked', 'gzip, chunked', 'identity', 'gzip', 'xchunked', 'chunked\t', '\tchunked', 'chunked;q=1', '"chunked"', 'chunked,', ', chunked', 'chunk', 'chu\x00nked', 'chunked\x0b'];
const CL_VALUES = (n: number): string[] => [`${n}`, ` ${n}`, `${n} `, `0${n}`, `+${n}`, `-${n}`, `${n}, ${n}`, `${n},${n + 1}`, `0x${n.toString(16)}`, `${n}.0`, `${n} ${n}`, '', `${n}\x00`, '99999999999999999999', `${n}\t`];

const FAMILIES: Record<string, Family> = {
  /** A plain request, sometimes with a body: the baseline both paths must get right. */
  plain(b) {
    if (b.r.chance(0.5)) {
      b.d.method = b.r.pick(['POST', 'PUT', 'PATCH']);
      setBody(b.d, b.r.chance(0.5) ? hidden(b) : 'hello=world');
    }
    if (b.shape === 'node') nodeShape(b);
  },

  /** Connection lists a framing or routing header: it must not vanish (issue 13 bug 1). */
  'connection-lists'(b) {
    b.d.method = b.r.pick(['POST', 'PUT', 'GET']);
    const listed = b.r.pick(LISTED);
    insert(b.r, b.d, h(b.r.pick(['Connection', 'connection', 'CONNECTION']), listed));
    if (/content-length|transfer-encoding/i.test(listed) || b.r.chance(0.7)) {
      const body = hidden(b);
      if (/transfer-encoding/i.test(listed) && b.r.chance(0.6)) {
        b.d.headers.push(h('Transfer-Encoding', 'chunked'));
        b.d.body = chunk(body) + '0\r\n\r\n';
        b.shape = 'node';
      } else setBody(b.d, body);
    }
    if (b.shape === 'node') nodeShape(b);
  },

  /** Content-Length and Transfer-Encoding together, in their classic smuggling arrangements. */
  'cl-te'(b) {
    b.d.method = 'POST';
    b.shape = 'node';
    const te = b.r.pick(TE_VALUES);
    const smuggled = hidden(b);
    if (b.r.chance(0.5)) {
      // CL.TE: a front end reading the length forwards the hidden request as body.
      b.d.body = `0\r\n\r\n${smuggled}`;
      b.d.headers.push(h('Content-Length', String(b.d.body.length)));
    } else {
      // TE.CL: the hidden request is chunk data for TE, a next request for CL.
      b.d.body = `${chunk(smuggled)}0\r\n\r\n`;
      b.d.headers.push(h('Content-Length', b.r.pick(['4', '3', String(b.d.body.length)])));
    }
    const teLine = h(b.r.pick(['Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING', 'Transfer-encoding']), te);
    if (b.r.chance(0.5)) b.d.headers.push(teLine);
    else b.d.headers.unshift(teLine);
  },

  /** Transfer-Encoding alone, with obfuscated values and chunk-size tricks. */
  'te-chunks'(b) {
    b.d.method = 'POST';
    b.shape = 'node';
    const smuggled = hidden(b);
    b.d.headers.push(h('Transfer-Encoding', b.r.chance(0.6) ? 'chunked' : b.r.pick(TE_VALUES)));
    const size = smuggled.length.toString(16);
    const trick = b.r.pick([
      'plain',
      'extension',
      'bare-semicolon',
      'quoted-ext',
      'leading-zeros',
      '0x',
      'negative',
      'plus',
      'huge',
      'overflow',
      'trailing-space',
      'lf-only',
      'cr-only',
      'missing-crlf',
      'after-last',
      'trailer',
      'trailer-cl',
      'lf-last',
    ]);
    let body: string;
    switch (trick) {
      case 'extension':
        body = `${size};ext=1\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'bare-semicolon':
        body = `${size};\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'quoted-ext':
        body = `${size};a="\r\n${smuggled}"\r\n0\r\n\r\n`;
        break;
      case 'leading-zeros':
        body = `000${size}\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case '0x':
        body = `0x${size}\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'negative':
        body = `-${size}\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'plus':
        body = `+${size}\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'huge':
        body = `ffffffffffffffff\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'overflow':
        body = `1${'0'.repeat(16)}${size}\r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'trailing-space':
        body = `${size} \r\n${smuggled}\r\n0\r\n\r\n`;
        break;
      case 'lf-only':
        body = `${size}\n${smuggled}\n0\n\n`;
        break;
      case 'cr-only':
        body = `${size}\r${smuggled}\r0\r\r`;
        break;
      case 'missing-crlf':
        body = `${size}\r\n${smuggled}0\r\n\r\n`;
        break;
      case 'after-last':
        // A legitimate pipelined request after the last chunk: hitless must route it itself.
        body = `0\r\n\r\n${smuggled}`;
        break;
      case 'trailer':
        body = `${size}\r\n${smuggled}\r\n0\r\nx-trailer: 1\r\n\r\n`;
        break;
      case 'trailer-cl':
        body = `${size}\r\n${smuggled}\r\n0\r\nContent-Length: 5\r\n\r\n`;
        break;
      case 'lf-last':
        body = `${size}\r\n${smuggled}\r\n0\n\n`;
        break;
      default:
        body = `${chunk(smuggled)}0\r\n\r\n`;
    }
    b.d.body = body;
    b.family = `te-chunks/${trick}`;
  },

  /** Content-Length shapes: lists, signs, duplicates, garbage. */
  'content-length'(b) {
    b.d.method = b.r.pick(['POST', 'PUT', 'GET']);
    const smuggled = hidden(b);
    const n = b.r.chance(0.5) ? 0 : smuggled.length;
    b.d.body = smuggled;
    const values = CL_VALUES(n);
    const v1 = b.r.pick(values);
    b.d.headers.push(h('Content-Length', v1));
    if (b.r.chance(0.5)) b.d.headers.push(h(b.r.pick(['Content-Length', 'content-length']), b.r.pick([...values, String(smuggled.length), '0'])));
    if (b.r.chance(0.3)) nodeShape(b);
  },

  /** Host: two of them, empty, odd, missing. */
  host(b) {
    const trick = b.r.pick(['two-same', 'two-different', 'two-admin', 'empty', 'missing', 'port', 'upper', 'trailing-dot', 'userinfo', 'path', 'space-inside', 'comma']);
    const host = find(b.d, 'host')!;
    switch (trick) {
      case 'two-same':
        b.d.headers.push(h('Host', host.value));
        break;
      case 'two-different':
        b.d.headers.push(h(b.r.pick(['Host', 'host']), b.r.pick(['a.example', 'x.w.example', 'd.example'])));
        break;
      case 'two-admin':
        b.d.headers.unshift(h('Host', 'a.example'));
        break;
      case 'empty':
        host.value = '';
        break;
      case 'missing':
        b.d.headers = b.d.headers.filter((x) => x !== host);
        break;
      case 'port':
        host.value = `${host.value}:${b.r.pick(['80', '8080', '', '0', 'abc'])}`;
        break;
      case 'upper':
        host.value = host.value.toUpperCase();
        break;
      case 'trailing-dot':
        host.value = `${host.value}.`;
        break;
      case 'userinfo':
        host.value = `a.example@${host.value}`;
        break;
      case 'path':
        host.value = `${host.value}/admin`;
        break;
      case 'space-inside':
        host.value = `${host.value} a.example`;
        break;
      case 'comma':
        host.value = `${host.value}, a.example`;
        break;
    }
    b.family = `host/${trick}`;
    if (b.shape === 'node') nodeShape(b);
  },

  /** Absolute-form, authority-form and asterisk-form targets (issue 13 bug 4). */
  target(b) {
    b.shape = 'node';
    const id = b.ids[0];
    const trick = b.r.pick(['absolute-admin', 'absolute-a', 'absolute-mismatch', 'absolute-nohost', 'absolute-https', 'absolute-upper', 'absolute-port', 'absolute-nopath', 'absolute-userinfo', 'authority', 'asterisk', 'asterisk-get', 'absolute-wild', 'scheme-relative']);
    const host = find(b.d, 'host')!;
    switch (trick) {
      case 'absolute-admin':
        b.d.target = `http://d.example/admin/r/${id}`;
        host.value = b.r.pick(['d.example', 'a.example', 'x.w.example']);
        break;
      case 'absolute-a':
        b.d.target = `http://a.example/admin/r/${id}`;
        host.value = b.r.pick(['d.example', 'a.example']);
        break;
      case 'absolute-mismatch':
        b.d.target = `http://${b.r.pick(['a.example', 'x.w.example', 'd.example'])}/r/${id}`;
        host.value = b.r.pick(['a.example', 'x.w.example', 'd.example']);
        break;
      case 'absolute-nohost':
        b.d.target = `http://a.example/r/${id}`;
        b.d.headers = b.d.headers.filter((x) => x !== host);
        break;
      case 'absolute-https':
        b.d.target = `https://a.example/r/${id}`;
        break;
      case 'absolute-upper':
        b.d.target = `HTTP://A.EXAMPLE/r/${id}`;
        break;
      case 'absolute-port':
        b.d.target = `http://a.example:8080/r/${id}`;
        break;
      case 'absolute-nopath':
        b.d.target = `http://a.example?r=${id}`;
        break;
      case 'absolute-userinfo':
        b.d.target = `http://d.example@a.example/r/${id}`;
        break;
      case 'absolute-wild':
        b.d.target = `http://x.w.example/admin/r/${id}`;
        host.value = 'a.example';
        break;
      case 'scheme-relative':
        b.d.target = `//a.example/r/${id}`;
        break;
      case 'authority':
        b.d.method = b.r.pick(['CONNECT', 'GET']);
        b.d.target = b.r.pick(['a.example:80', 'd.example:443', '127.0.0.1:22']);
        break;
      case 'asterisk':
        b.d.method = 'OPTIONS';
        b.d.target = '*';
        break;
      case 'asterisk-get':
        b.d.target = '*';
        break;
    }
    b.family = `target/${trick}`;
    if (b.r.chance(0.3)) b.d.version = 'HTTP/1.0';
  },

  /** Upgrade requests: the connection becomes a tunnel only after a 101 (issue 13 bug 2). */
  upgrade(b) {
    b.shape = 'node';
    const proto = b.r.pick(['websocket', 'WebSocket', 'h2c', 'foo/1', 'websocket, h2c', 'TLS/1.2']);
    b.d.headers.push(h('Upgrade', proto));
    const connection = b.r.pick(['Upgrade', 'upgrade', 'keep-alive, Upgrade', 'Upgrade, HTTP2-Settings', null, 'keep-alive', 'close, upgrade']);
    if (connection !== null) b.d.headers.push(h('Connection', connection));
    if (/h2c/i.test(proto)) b.d.headers.push(h('HTTP2-Settings', 'AAMAAABkAAQCAAAAAAIAAAAA'));
    if (/websocket/i.test(proto)) b.d.headers.push(h('Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='), h('Sec-WebSocket-Version', '13'));
    if (b.r.chance(0.2)) {
      b.d.method = 'POST';
      setBody(b.d, hidden(b));
    }
    if (b.r.chance(0.3)) b.evil = b.r.pick(['upgrade-200', 'upgrade-200-raw', 'upgrade-200', 'lf-only']);
    if (b.r.chance(0.15)) b.d.version = 'HTTP/1.0';
    b.family = `upgrade/${b.evil ?? 'honest'}`;
  },

  /** HTTP/1.0 with keep-alive and bodies (the node:http path). */
  http10(b) {
    b.shape = 'node';
    b.d.version = 'HTTP/1.0';
    b.d.headers.push(h('Connection', b.r.pick(['keep-alive', 'Keep-Alive', 'keep-alive, content-length', 'keep-alive, host', 'keep-alive, transfer-encoding'])));
    if (b.r.chance(0.7)) {
      b.d.method = 'POST';
      if (b.r.chance(0.3)) {
        b.d.headers.push(h('Transfer-Encoding', 'chunked'));
        b.d.body = `${chunk(hidden(b))}0\r\n\r\n`;
      } else setBody(b.d, hidden(b));
    }
    if (b.r.chance(0.3)) b.d.headers = b.d.headers.filter((x) => x.name !== 'Host');
  },

  /** Expect: 100-continue with a body. */
  expect(b) {
    b.shape = 'node';
    b.d.method = 'POST';
    b.d.headers.push(h('Expect', b.r.pick(['100-continue', '100-Continue', '200-ok', '100-continue, x'])));
    setBody(b.d, hidden(b));
    if (b.r.chance(0.3)) b.d.headers.push(h('Connection', 'content-length'));
  },

  /** A second (legitimate) request pipelined in the same write. */
  pipeline(b) {
    const second = b.next();
    const cluster = b.r.pick(CLUSTERS);
    if (b.r.chance(0.5)) {
      b.d.method = 'POST';
      setBody(b.d, 'abc');
    }
    b.tail = legitText(second, cluster);
    if (b.shape === 'node') nodeShape(b);
  },

  /** Control bytes, bare CR/LF, NUL, spaces before colons, odd request lines. */
  garbage(b) {
    const trick = b.r.pick(['nul-value', 'bare-cr', 'bare-lf', 'space-before-colon', 'tab-before-colon', 'space-in-name', 'ctl-in-name', 'del', 'vt', 'ff', 'lowercase-method', 'double-space', 'tab-separator', 'http12', 'http09', 'no-version', 'lf-request-line', 'leading-crlf', 'obs-fold-cl', 'empty-name', 'high-bit']);
    const d = b.d;
    const some = (): HeaderLine => d.headers[b.r.int(d.headers.length)];
    setBody(d, hidden(b));
    d.method = 'POST';
    switch (trick) {
      case 'nul-value':
        some().value += '\x00x';
        break;
      case 'bare-cr':
        some().value += `\rContent-Length: 0`;
        break;
      case 'bare-lf':
        some().value += `\nContent-Length: 0`;
        break;
      case 'space-before-colon':
        find(d, 'content-length')!.sep = ' : ';
        break;
      case 'tab-before-colon':
        find(d, 'content-length')!.sep = '\t:';
        break;
      case 'space-in-name':
        d.headers.push(h('Content Length', '0'));
        break;
      case 'ctl-in-name':
        d.headers.push(h('Content-Length\x01', '0'));
        break;
      case 'del':
        some().value += '\x7f';
        break;
      case 'vt':
        some().value += '\x0b';
        break;
      case 'ff':
        some().value = '\x0c' + some().value;
        break;
      case 'lowercase-method':
        d.method = 'post';
        break;
      case 'double-space':
        d.sp1 = '  ';
        break;
      case 'tab-separator':
        d.sp2 = '\t';
        break;
      case 'http12':
        d.version = b.r.pick(['HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/01.1']);
        break;
      case 'http09':
        d.version = '';
        d.sp2 = '';
        break;
      case 'no-version':
        d.version = 'HTTP/';
        break;
      case 'lf-request-line':
        d.eol0 = '\n';
        break;
      case 'leading-crlf':
        d.method = `\r\n${d.method}`;
        break;
      case 'obs-fold-cl': {
        const cl = find(d, 'content-length')!;
        cl.sep = ':\r\n ';
        break;
      }
      case 'empty-name':
        d.headers.push(h('', '0'));
        break;
      case 'high-bit':
        some().value += '\xe9\xff';
        break;
    }
    b.family = `garbage/${trick}`;
  },

  /** A plain request the endpoint answers maliciously; the bytes must reach no one else. */
  evil(b) {
    b.evil = b.r.pick(EVIL_MODES.filter((m) => m !== 'upgrade-200' && m !== 'upgrade-200-raw'));
    if (b.r.chance(0.3)) {
      b.d.method = 'POST';
      setBody(b.d, 'x=1');
    }
    if (b.shape === 'node') nodeShape(b);
    b.family = `evil/${b.evil}`;
  },
};

/** Turns a raw-path request into one that the raw path hands to node:http. */
function nodeShape(b: Building): void {
  const how = b.r.pick(['http10', 'chunked', 'expect', 'absolute']);
  const d = b.d;
  if (how === 'http10') {
    d.version = 'HTTP/1.0';
    d.headers.push(h('Connection', 'keep-alive'));
  } else if (how === 'chunked' && d.body !== '' && find(d, 'content-length') !== undefined && !find(d, 'transfer-encoding')) {
    d.headers = d.headers.filter((x) => x.name.toLowerCase() !== 'content-length' || /[a-z]/i.test(x.value));
    d.headers.push(h('Transfer-Encoding', 'chunked'));
    d.body = `${chunk(d.body)}0\r\n\r\n`;
  } else if (how === 'expect' && d.body !== '') {
    d.headers.push(h('Expect', '100-continue'));
  } else {
    const host = find(d, 'host');
    d.target = `http://${host?.value ?? 'd.example'}${d.target}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Generic mutations, applied after the family (0-2 of them)

type Mutation = (r: Rng, d: Draft) => string | null;

const MUTATIONS: Mutation[] = [
  (r, d) => {
    const x = d.headers[r.int(d.headers.length)];
    if (x === undefined) return null;
    x.sep = r.pick([':', ':\t', ':  ', ' :', ':\x0b', ': \t', '\t: ', '::']);
    return `sep ${JSON.stringify(x.sep)} on ${x.name}`;
  },
  (r, d) => {
    const x = d.headers[r.int(d.headers.length)];
    if (x === undefined) return null;
    x.value = r.pick([` ${x.value}`, `${x.value} `, `\t${x.value}\t`, `${x.value}\x00`, `${x.value}\r`, `\x0c${x.value}`]);
    return `value whitespace/control on ${x.name}`;
  },
  (r, d) => {
    const x = d.headers[r.int(d.headers.length)];
    if (x === undefined) return null;
    x.name = r.chance(0.5) ? x.name.toUpperCase() : x.name.toLowerCase();
    return `case ${x.name}`;
  },
  (r, d) => {
    const x = d.headers[r.int(d.headers.length)];
    if (x === undefined) return null;
    d.headers.splice(r.int(d.headers.length + 1), 0, { ...x });
    return `duplicate ${x.name}`;
  },
  (r, d) => {
    const x = d.headers[r.int(d.headers.length)];
    if (x === undefined) return null;
    const at = Math.max(1, r.int(x.value.length));
    x.value = `${x.value.slice(0, at)}\r\n${r.pick([' ', '\t'])}${x.value.slice(at)}`;
    return `obs-fold in ${x.name}`;
  },
  (r, d) => {
    const x = d.headers[r.int(d.headers.length)];
    if (x === undefined) return null;
    x.eol = r.pick(['\n', '\r', '\r\r\n', '\n\r']);
    return `line end ${JSON.stringify(x.eol)} after ${x.name}`;
  },
  (r, d) => {
    // Listing x-req-id in Connection makes it hop-by-hop: hitless rightly drops it (RFC 9110
    // §7.6.1). Only where the target carries the id too: an asterisk- or authority-form request
    // then reached the endpoint with no id at all, counted as unrouted (seed 655129390).
    const targetHasId = /\/r\/|[?&]r=/.test(d.target);
    const listed = ['close', 'keep-alive', 'content-length', 'host', 'transfer-encoding', 'trailers', ...(targetHasId ? ['x-req-id, keep-alive'] : [])];
    d.headers.splice(r.int(d.headers.length + 1), 0, h(r.pick(['Connection', 'Proxy-Connection', 'Keep-Alive', 'TE', 'Trailer']), r.pick(listed)));
    return 'hop-by-hop header';
  },
  (r, d) => {
    d.headers.splice(r.int(d.headers.length + 1), 0, h(r.pick(['X-Forwarded-For', 'Forwarded', 'X-Forwarded-Host', 'X-Forwarded-Proto']), r.pick(['1.2.3.4', 'for=1.2.3.4;host=a.example', 'a.example', 'https'])));
    return 'forwarding header';
  },
  (r, d) => {
    d.end = r.pick(['\n', '\r\n\r\n', '\r\r\n', ' \r\n']);
    return `head end ${JSON.stringify(d.end)}`;
  },
  (r, d) => {
    d.headers.splice(r.int(d.headers.length + 1), 0, h('Content-Length', r.pick(['0', '5', '1000', '-1'])));
    return 'extra Content-Length';
  },
  (r, d) => {
    d.headers.splice(r.int(d.headers.length + 1), 0, h('Transfer-Encoding', r.pick(TE_VALUES)));
    return 'extra Transfer-Encoding';
  },
];

// ---------------------------------------------------------------------------------------------

/** Which families a run uses, with their weights (evil needs a hitless harness endpoint). */
const FAMILY_WEIGHTS: ReadonlyArray<[string, number]> = [
  ['plain', 3],
  ['connection-lists', 4],
  ['cl-te', 3],
  ['te-chunks', 3],
  ['content-length', 3],
  ['host', 3],
  ['target', 3],
  ['upgrade', 3],
  ['http10', 2],
  ['expect', 1],
  ['pipeline', 2],
  ['garbage', 3],
  ['evil', 4],
];
const TOTAL_WEIGHT = FAMILY_WEIGHTS.reduce((n, [, w]) => n + w, 0);

export interface GenerateOptions {
  /** "k": requests sent to hitless; "h": the same bytes for HAProxy (ids differ, lengths do not). */
  readonly ns?: string;
  /** Only this family (for a focused run). */
  readonly family?: string;
  /** With family "evil": this endpoint misbehaviour. */
  readonly evil?: EvilMode;
  /** The hitless request path to build the primary request for. */
  readonly shape?: 'raw' | 'node';
}

export const FAMILY_NAMES: readonly string[] = FAMILY_WEIGHTS.map(([name]) => name);

export function generateCase(seed: number, options: GenerateOptions = {}): SmuggleCase {
  const ns = options.ns ?? 'k';
  const r = new Rng(seed ^ 0x5eed1e55);
  let slot = 0;
  const ids: string[] = [];
  const next = (): string => {
    const id = caseId(ns, seed, slot++);
    ids.push(id);
    return id;
  };
  const primary = next();
  let familyName = options.family;
  if (familyName === undefined) {
    let w = r.int(TOTAL_WEIGHT);
    for (const [name, weight] of FAMILY_WEIGHTS) {
      if (w < weight) {
        familyName = name;
        break;
      }
      w -= weight;
    }
  }
  const cluster = r.pick(CLUSTERS);
  const shape: 'raw' | 'node' = r.chance(0.5) ? 'raw' : 'node';
  const b: Building = { r, d: legit(primary, cluster), ids, next, family: familyName!, shape: options.shape ?? shape, tail: '', evil: null };
  const family = FAMILIES[familyName!];
  if (family === undefined) throw new Error(`no family ${familyName}; families: ${Object.keys(FAMILIES).join(', ')}`);
  family(b);
  if (options.evil !== undefined && familyName === 'evil') {
    b.evil = options.evil;
    b.family = `evil/${options.evil}`;
  }
  const mutations: string[] = [];
  if (familyName !== 'evil' && familyName !== 'plain') {
    for (let i = 0, n = r.pick([0, 0, 0, 0, 0, 0, 1, 1, 1, 2]); i < n; i++) {
      const m = r.pick(MUTATIONS)(r, b.d);
      if (m !== null) mutations.push(m);
    }
  }
  const attackText = serialize(b.d) + b.tail;
  const followMode: SmuggleCase['followMode'] = b.noFollow ? 'none' : r.pick(['pipelined', 'after', 'after', 'after', 'none']);
  let followUp: Buffer | null = null;
  let followId: string | null = null;
  if (followMode !== 'none') {
    followId = next();
    // Routed elsewhere than the primary, so that a tunnel or a desync shows up at the wrong cluster.
    followUp = Buffer.from(legitText(followId, cluster === 'ADMIN' ? 'WILD' : 'ADMIN'), 'latin1');
  }
  const attack = Buffer.from(attackText, 'latin1');
  const all = attackText + (followUp?.toString('latin1') ?? '');
  const requestLines = (all.match(/[A-Za-z]+[ \t]+\S+[ \t]+HTTP\/[0-9.]+/g) ?? []).length + (all.match(/(?:^|\n)[A-Za-z]+ \S+(?:\r?\n)/g) ?? []).length;
  return {
    seed,
    ns,
    family: b.family,
    mutations,
    shape: b.shape,
    attack,
    pieces: r.chance(0.15) ? 2 + r.int(3) : 1,
    followUp,
    followMode,
    primary,
    followId,
    ids,
    evil: b.evil,
    requestLines: Math.max(1, requestLines),
    expectedAnswers: 1 + (b.tail !== '' ? 1 : 0) + (followUp !== null ? 1 : 0) + (b.family === 'te-chunks/after-last' ? 1 : 0),
  };
}

/** A short printable form of bytes for reports and findings. */
export function show(bytes: Buffer | string, max = 1_500): string {
  const s = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  const j = JSON.stringify(s);
  return j.length > max ? `${j.slice(0, max)}... (${s.length} bytes)` : j;
}

/**
 * A case from explicit bytes (a minimal repro): ids are the "/r/<id>" in the bytes, the first
 * one primary. Use ids of the form caseId(ns, seed, slot) so that they are unique in a run.
 */
export function rawCase(seed: number, attack: string, options: { followUp?: string; followMode?: 'pipelined' | 'after'; evil?: EvilMode; shape?: 'raw' | 'node' } = {}): SmuggleCase {
  const all = attack + (options.followUp ?? '');
  const ids = [...new Set([...all.matchAll(/\/r\/([a-z][0-9a-z]{9})/g)].map((m) => m[1]))];
  const followId = options.followUp === undefined ? null : (/\/r\/([a-z][0-9a-z]{9})/.exec(options.followUp)?.[1] ?? null);
  return {
    seed,
    ns: ids[0]?.[0] ?? 'k',
    family: 'raw',
    mutations: [],
    shape: options.shape ?? 'raw',
    attack: Buffer.from(attack, 'latin1'),
    pieces: 1,
    followUp: options.followUp === undefined ? null : Buffer.from(options.followUp, 'latin1'),
    followMode: options.followUp === undefined ? 'none' : (options.followMode ?? 'after'),
    primary: ids[0] ?? caseId('k', seed, 0),
    followId,
    ids,
    evil: options.evil ?? null,
    requestLines: Math.max(1, (all.match(/[A-Za-z]+[ \t]+\S+[ \t]+HTTP\/[0-9.]+/g) ?? []).length),
    expectedAnswers: 1 + (options.followUp === undefined ? 0 : 1),
  };
}
