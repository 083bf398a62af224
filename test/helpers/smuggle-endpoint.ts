// A logging endpoint for the smuggling harness: a raw TCP server (not node:http) that keeps the
// exact bytes it receives, parses HTTP/1.1 requests strictly itself, records each one (id, method,
// target, headers, framing headers), and answers with a response that names the id it parsed. It
// can answer one request (by id) maliciously, in the ways listed in smuggle-corpus.ts EVIL_MODES.
// After a 101 the connection is a tunnel: bytes are echoed back, not parsed.
import net, { type AddressInfo, type Socket } from 'node:net';
import { markerOf, type ClusterName, type EvilMode } from './smuggle-corpus.js';

export interface EndpointRequest {
  readonly cluster: ClusterName;
  /** Connection number at this endpoint, and the request's position on it. */
  readonly conn: number;
  readonly seq: number;
  readonly at: number;
  readonly method: string;
  readonly target: string;
  readonly version: string;
  /** [name as sent, value trimmed]. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The head exactly as received (latin1), for reports. */
  readonly raw: string;
  readonly bodyLength: number;
  /** The whole request arrived (head and body) and was answered. */
  readonly complete: boolean;
  /** The id from the path ("/r/<id>"), else from x-req-id. */
  readonly id: string | null;
}

export interface EndpointProblem {
  readonly cluster: ClusterName;
  readonly conn: number;
  /** What could not be parsed, and the bytes. */
  readonly reason: string;
  readonly bytes: string;
  /** Ids of the requests parsed earlier on this connection (most recent last). */
  readonly history: readonly string[];
}

export interface EndpointHooks {
  /** Called for every request parsed, before it is answered. */
  onRequest(req: EndpointRequest, history: readonly string[]): void;
  /** Bytes that are not a request (the connection is closed after them). */
  onProblem(problem: EndpointProblem): void;
  /** Bytes that went through a tunnel (after a 101), with the tunnel's request id. */
  onTunnelBytes?(cluster: ClusterName, ownerId: string | null, bytes: Buffer): void;
  /** Bytes naming these ids (answers, or an evil endpoint's extra bytes) went to the socket at `at`. */
  onWritten?(ids: readonly string[], at: number): void;
  /** How to answer this id: normally (null) or in one malicious way. */

  evilFor(id: string): EvilMode | null;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// eslint-disable-next-line no-control-regex -- the control characters are the point
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) (HTTP\/1\.[01])$/;
/**
 * The id in the target: `/r/<id>`, or `?r=<id>` (the corpus's absolute-form target without a path,
 * `http://a.example?r=<id>`, reaches the endpoint as `/?r=<id>`; with a mangled x-req-id line it
 * carried no id the endpoint could read, and was counted as unrouted).
 */
const PATH_ID = /(?:\/r\/|[?&]r=)([a-z][0-9a-z]{9})(?![0-9a-z])/;
const MAX_HEAD = 64 * 1024;
/**
 * Each answer is written this long after its request is complete (in order), as a real endpoint
 * takes a moment to work: an answer to a request smuggled behind another then arrives after that
 * other's answer, when the pooled connection may already carry a victim's request.
 */
const ANSWER_DELAY_MS = 1;

export function headerValues(headers: EndpointRequest['headers'], lower: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** The response for a request that names `id` (or none). */
export function echoResponse(cluster: string, id: string | null, method = 'GET'): string {
  const body = `id=${id ?? 'none'}\n`;
  return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-echo-id: ${id ?? 'none'}\r\nx-cluster: ${cluster}\r\n\r\n${method === 'HEAD' ? '' : body}`;
}

export class LoggingEndpoint {
  readonly requests: EndpointRequest[] = [];
  readonly problems: EndpointProblem[] = [];
  private readonly sockets = new Set<Socket>();
  private conns = 0;
  private server!: net.Server;
  port = 0;

  constructor(
    readonly cluster: ClusterName,
    private readonly hooks: EndpointHooks,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  connections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.once('close', () => this.sockets.delete(socket));
    new EndpointConnection(this, socket, ++this.conns, this.hooks);
  }

  record(req: EndpointRequest, history: readonly string[]): void {
    this.requests.push(req);
    if (this.requests.length > 200_000) this.requests.splice(0, 100_000);
    this.hooks.onRequest(req, history);
  }

  problem(p: EndpointProblem): void {
    this.problems.push(p);
    this.hooks.onProblem(p);
  }
}

type State = { kind: 'head' } | { kind: 'length'; remaining: number } | { kind: 'chunked'; phase: 'size' | 'data' | 'data-end' | 'trailer'; remaining: number } | { kind: 'tunnel'; owner: string | null } | { kind: 'dead' };

class EndpointConnection {
  private buf: Buffer = Buffer.alloc(0);
  private state: State = { kind: 'head' };
  private current: { req: EndpointRequest; evil: EvilMode | null; upgrade: boolean } | null = null;
  private bodyLength = 0;
  private seq = 0;
  private readonly history: string[] = [];
  /** When late bytes were last written here. */
  private lastRequestAt = 0;
  private readonly queue: Array<{ fn: () => void; delay: boolean }> = [];
  private writing = false;
  /** Writes go through the queue, in order; `write` answers after ANSWER_DELAY_MS. */
  private readonly out = {
    write: (text: string): void => this.enqueue(() => this.write(text), true),
    end: (): void => this.enqueue(() => this.socket.end(), false),
    then: (fn: () => void): void => this.enqueue(fn, false),
  };

  constructor(
    private readonly endpoint: LoggingEndpoint,
    private readonly socket: Socket,
    private readonly number: number,
    private readonly hooks: EndpointHooks,
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.once('end', () => this.onEnd());
    socket.once('close', () => this.onEnd());
  }

  /** Writes now, and tells the harness which ids these bytes name, and when they left. */
  private write(text: string): void {
    if (this.socket.destroyed) return;
    this.socket.write(text, 'latin1');
    const ids = [...text.matchAll(/x-echo-id: ([a-z][0-9a-z]{9})/g)].map((m) => m[1]);
    if (ids.length > 0) this.hooks.onWritten?.(ids, performance.now());
  }

  private enqueue(fn: () => void, delay: boolean): void {
    this.queue.push({ fn, delay });
    if (!this.writing) this.drain();
  }

  private drain(): void {
    const next = this.queue.shift();
    if (next === undefined) {
      this.writing = false;
      return;
    }
    this.writing = true;
    const run = (): void => {
      if (!this.socket.destroyed) next.fn();
      this.drain();
    };
    if (next.delay && ANSWER_DELAY_MS > 0) setTimeout(run, ANSWER_DELAY_MS);
    else run();
  }

  private onEnd(): void {
    if (this.state.kind === 'head' && this.buf.length > 0) this.fail('connection closed inside a request head', this.buf);
    this.state = { kind: 'dead' };
  }

  private fail(reason: string, bytes: Buffer): void {
    if (this.state.kind === 'dead') return;
    this.state = { kind: 'dead' };
    this.endpoint.problem({ cluster: this.endpoint.cluster, conn: this.number, reason, bytes: bytes.toString('latin1', 0, 2_000), history: [...this.history] });
    this.socket.destroy();
  }

  private onData(data: Buffer): void {
    if (this.state.kind === 'dead') return;
    if (this.state.kind === 'tunnel') {
      this.hooks.onTunnelBytes?.(this.endpoint.cluster, this.state.owner, data);
      this.out.then(() => this.socket.write(data));
      return;
    }
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    for (let guard = 0; guard < 10_000; guard++) {
      const before = this.buf.length;
      const kindBefore: State['kind'] = this.state.kind;
      this.step();
      const now = this.state as State;
      if (now.kind === 'dead') return;
      if (now.kind === 'tunnel') {
        if (this.buf.length > 0) {
          const rest = this.buf;
          this.buf = Buffer.alloc(0);
          this.hooks.onTunnelBytes?.(this.endpoint.cluster, now.owner, rest);
          this.out.then(() => this.socket.write(rest));
        }
        return;
      }
      // Every step that makes progress consumes bytes.
      if (this.buf.length === before && now.kind === kindBefore) return;
    }
  }

  /** One parse step on `buf`; leaves `buf` as is when more bytes are needed. */
  private step(): void {
    const st = this.state;
    if (st.kind === 'head') {
      if (this.buf.length === 0) return;
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > MAX_HEAD) this.fail('request head over 64 KiB', this.buf);
        // A bare LF where a line must end is garbage already: fail at once.
        else if (/(?:^|[^\r])\n/.test(this.buf.toString('latin1'))) this.fail('bare LF in a request head', this.buf);
        return;
      }
      const head = this.buf.subarray(0, end).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
      this.onHead(head);
      return;
    }
    if (st.kind === 'length') {
      const n = Math.min(st.remaining, this.buf.length);
      if (n === 0) return;
      this.bodyLength += n;
      st.remaining -= n;
      this.buf = this.buf.subarray(n);
      if (st.remaining === 0) this.complete();
      return;
    }
    if (st.kind === 'chunked') {
      if (st.phase === 'size') {
        const lf = this.buf.indexOf('\r\n');
        if (lf < 0) {
          if (this.buf.length > 4096 || this.buf.includes(10)) this.fail('bad chunk size line', this.buf);
          return;
        }
        const line = this.buf.toString('latin1', 0, lf);
        const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"[^"\r\n]*"))?)*$/.exec(line);
        if (m === null) return this.fail(`bad chunk size line ${JSON.stringify(line.slice(0, 60))}`, this.buf);
        this.buf = this.buf.subarray(lf + 2);
        const size = parseInt(m[1], 16);
        if (size === 0) {
          st.phase = 'trailer';
        } else {
          st.phase = 'data';
          st.remaining = size;
        }
        return;
      }
      if (st.phase === 'data') {
        const n = Math.min(st.remaining, this.buf.length);
        if (n === 0) return;
        this.bodyLength += n;
        st.remaining -= n;
        this.buf = this.buf.subarray(n);
        if (st.remaining === 0) st.phase = 'data-end';
        return;
      }
      if (st.phase === 'data-end') {
        if (this.buf.length < 2) return;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) return this.fail('chunk data not followed by CRLF', this.buf);
        this.buf = this.buf.subarray(2);
        st.phase = 'size';
        return;
      }
      // Trailer section: lines until an empty one.
      const lf = this.buf.indexOf('\r\n');
      if (lf < 0) return;
      const line = this.buf.toString('latin1', 0, lf);
      this.buf = this.buf.subarray(lf + 2);
      if (line === '') this.complete();
      else if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) this.fail(`bad trailer line ${JSON.stringify(line.slice(0, 60))}`, this.buf);
    }
  }

  private onHead(head: string): void {
    const lines = head.split('\r\n');
    const m = REQUEST_LINE.exec(lines[0]);
    if (m === null) return this.fail(`not a request line: ${JSON.stringify(lines[0].slice(0, 100))}`, Buffer.from(head, 'latin1'));
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) return this.fail(`malformed header line ${JSON.stringify(line.slice(0, 100))}`, Buffer.from(head, 'latin1'));
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (!VALUE.test(value)) return this.fail(`control byte in header ${JSON.stringify(line.slice(0, 100))}`, Buffer.from(head, 'latin1'));
      headers.push([name, value]);
    }
    const [, method, target, version] = m;
    const pathId = PATH_ID.exec(target)?.[1] ?? null;
    // A '::' separator (a corpus mutation) leaves the value as ':<id>'; an asterisk-form target
    // carries no id of its own, so without this the request was counted as unrouted.
    const headerId = headerValues(headers, 'x-req-id')[0]?.replace(/^:[ \t]*/, '') ?? null;
    const id = pathId ?? (headerId !== null && /^[a-z][0-9a-z]{9}$/.test(headerId) ? headerId : null);
    const now = performance.now();
    this.lastRequestAt = now;
    const req: EndpointRequest = {
      cluster: this.endpoint.cluster,
      conn: this.number,
      seq: this.seq++,
      at: now,
      method,
      target,
      version,
      headers,
      raw: head,
      bodyLength: 0,
      complete: false,
      id,
    };
    const evil = id === null ? null : this.hooks.evilFor(id);
    const connection = headerValues(headers, 'connection').join(',').toLowerCase();
    const upgrade = headerValues(headers, 'upgrade').length > 0 && /(?:^|,)\s*upgrade\s*(?:,|$)/.test(connection);
    this.current = { req, evil, upgrade };
    this.bodyLength = 0;
    this.endpoint.record(req, this.history);
    this.history.push(id ?? 'no-id');
    if (this.history.length > 64) this.history.shift();
    // Framing as RFC 9112 §6.3 says; the harness reports CL+TE and friends as violations, and
    // reads on as the RFC says when it can (Transfer-Encoding wins), or stops (two lengths).
    const te = headerValues(headers, 'transfer-encoding');
    const cl = headerValues(headers, 'content-length');
    if (te.length > 0) {
      if (te.join(',').trim().toLowerCase() !== 'chunked') return this.fail(`transfer-encoding ${JSON.stringify(te)} is not chunked`, Buffer.alloc(0));
      this.state = { kind: 'chunked', phase: 'size', remaining: 0 };
      return;
    }
    if (cl.length > 0) {
      if (new Set(cl).size !== 1 || !/^\d{1,15}$/.test(cl[0])) return this.fail(`content-length ${JSON.stringify(cl)}`, Buffer.alloc(0));
      const n = Number(cl[0]);
      if (n > 0) {
        this.state = { kind: 'length', remaining: n };
        return;
      }
    }
    this.complete();
  }

  /** The current request is whole: answer it. */
  private complete(): void {
    const cur = this.current!;
    this.current = null;
    this.state = { kind: 'head' };
    (cur.req as { bodyLength: number }).bodyLength = this.bodyLength;
    (cur.req as { complete: boolean }).complete = true;
    const id = cur.req.id;
    const c = this.endpoint.cluster;
    const s = this.out;
    const honestUpgrade = cur.upgrade && cur.evil !== 'upgrade-200' && cur.evil !== 'upgrade-200-raw';
    if (honestUpgrade) {
      const proto = headerValues(cur.req.headers, 'upgrade')[0];
      s.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${proto}\r\nx-echo-id: ${id ?? 'none'}\r\nx-cluster: ${c}\r\n\r\n`);
      this.state = { kind: 'tunnel', owner: id };
      return;
    }
    if (cur.evil === null || id === null) {
      s.write(echoResponse(c, id, cur.req.method));
      return;
    }
    this.answerEvil(cur.evil, id, cur.req.method);
  }

  private answerEvil(mode: EvilMode, id: string, method: string): void {
    const c = this.endpoint.cluster;
    const s = this.out;
    const marker = markerOf(id);
    const extra = echoResponse(c, marker);
    const body = `id=${id}\n`;
    switch (mode) {
      case 'conn-cl':
        s.write(`HTTP/1.1 200 OK\r\nconnection: content-length\r\ncontent-length: ${body.length}\r\nx-echo-id: ${id}\r\n\r\n${body}`);
        return;
      case 'conn-te':
        s.write(`HTTP/1.1 200 OK\r\nconnection: transfer-encoding\r\ntransfer-encoding: chunked\r\nx-echo-id: ${id}\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
        return;
      case 'extra-bytes':
        s.write(`${echoResponse(c, id, method)}XX junk x-echo-id: ${marker} junk\r\n`);
        return;
      case 'two-responses':
        // In two writes: the second answer arrives when the connection may be back in the pool.
        s.write(echoResponse(c, id, method));
        s.write(extra);
        return;
      case 'late-response': {
        s.write(echoResponse(c, id, method));
        const at = this.lastRequestAt;
        s.then(() =>
          setTimeout(() => {
            // Only on a connection that carried nothing since: a late answer sent while another
            // request is in flight is indistinguishable from its answer, for any proxy.
            if (this.lastRequestAt !== at || this.state.kind !== 'head' || this.buf.length > 0 || this.socket.destroyed) return;
            this.write(extra);
          }, 20),
        );
        return;
      }
      case '101-unrequested':
        s.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\nx-echo-id: ${id}\r\n\r\n${extra}`);
        this.state = { kind: 'tunnel', owner: id };
        return;
      case 'upgrade-200':
        s.write(echoResponse(c, id, method));
        return;
      case 'upgrade-200-raw':
        s.write(`${echoResponse(c, id, method)}\x00\x01\x02 raw x-echo-id: ${marker}\r\n`);
        return;
      case '204-body':
      case '304-body': {
        const status = mode === '204-body' ? '204 No Content' : '304 Not Modified';
        s.write(`HTTP/1.1 ${status}\r\ncontent-length: ${extra.length}\r\nx-echo-id: ${id}\r\n\r\n${extra}`);
        return;
      }
      case 'lf-only':
        s.write(`HTTP/1.1 200 OK\ncontent-length: ${body.length}\nx-echo-id: ${id}\n\n${body}`);
        return;
      case 'cl-te':
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\nx-echo-id: ${id}\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n${extra}`);
        return;
      case 'close-after-head':
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: 100\r\nx-echo-id: ${id}\r\n\r\nid=`);
        s.end();
        this.state = { kind: 'dead' };
        return;
      case 'dup-cl':
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\ncontent-length: ${body.length + extra.length}\r\nx-echo-id: ${id}\r\n\r\n${body}${extra}`);
        return;
      case 'http10-nolength':
        s.write(`HTTP/1.0 200 OK\r\nx-echo-id: ${id}\r\n\r\n${body}`);
        s.then(() => {
          setTimeout(() => this.write(`more ${marker}\n`), 10);
          setTimeout(() => this.socket.end(), 40);
        });
        this.state = { kind: 'dead' };
        return;
    }
  }
}
