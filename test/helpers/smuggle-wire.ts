// Responses as a client reads them off the wire, for the smuggling harness: a strict parser (RFC
// 9112 framing: 1xx interim, 101 turns the rest into a tunnel, 204/304 and HEAD bodiless, chunked,
// Content-Length, else delimited by the close) that says where each response ends, so that bytes
// between or after responses are seen for what they are.

export interface WireResponse {
  readonly status: number;
  readonly version: string;
  /** [lower-case name, value]. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  readonly framing: 'none' | 'length' | 'chunked' | 'close';
  /** Offset of the first byte and of the byte after the last, in the parsed buffer. */
  readonly start: number;
  readonly end: number;
}

export type ParseStep =
  | { kind: 'response'; response: WireResponse }
  | { kind: 'incomplete' }
  | { kind: 'error'; reason: string };

export function header(r: WireResponse, name: string): string | undefined {
  return r.headers.find(([n]) => n === name)?.[1];
}

export function headerCount(r: WireResponse, name: string): number {
  return r.headers.filter(([n]) => n === name).length;
}

/**
 * One response at `offset`. `head`: it answers a HEAD. `ended`: no more bytes will come, so a
 * close-delimited body is complete.
 */
export function parseResponseAt(buf: Buffer, offset: number, head: boolean, ended: boolean): ParseStep {
  const headEnd = buf.indexOf('\r\n\r\n', offset);
  if (headEnd < 0) {
    if (buf.length - offset > 65_536) return { kind: 'error', reason: 'response head over 64 KiB' };
    if (!'HTTP/1.'.startsWith(buf.toString('latin1', offset, Math.min(buf.length, offset + 7)))) return { kind: 'error', reason: `not a status line: ${JSON.stringify(buf.toString('latin1', offset, offset + 60))}` };
    return ended ? { kind: 'error', reason: 'truncated response head' } : { kind: 'incomplete' };
  }
  const text = buf.toString('latin1', offset, headEnd);
  const lines = text.split('\r\n');
  const m = /^(HTTP\/1\.[01]) (\d{3}) [\t\x20-\x7e\x80-\xff]*$/.exec(lines[0]);
  if (m === null) return { kind: 'error', reason: `not a status line: ${JSON.stringify(lines[0].slice(0, 80))}` };
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(line.slice(0, colon))) return { kind: 'error', reason: `malformed header line ${JSON.stringify(line.slice(0, 80))}` };
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    // eslint-disable-next-line no-control-regex -- the control characters are the point
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return { kind: 'error', reason: `control byte in header ${JSON.stringify(line.slice(0, 80))}` };
    headers.push([line.slice(0, colon).toLowerCase(), value]);
  }
  const status = Number(m[2]);
  let pos = headEnd + 4;
  const done = (body: Buffer, framing: WireResponse['framing'], end: number): ParseStep => ({ kind: 'response', response: { status, version: m[1], headers, body, framing, start: offset, end } });
  if (head || (status >= 100 && status < 200) || status === 204 || status === 304) return done(Buffer.alloc(0), 'none', pos);
  const te = headers.filter(([n]) => n === 'transfer-encoding').map(([, v]) => v.toLowerCase());
  const cl = headers.filter(([n]) => n === 'content-length').map(([, v]) => v);
  if (te.length > 0) {
    if (te.length !== 1 || te[0] !== 'chunked') return { kind: 'error', reason: `transfer-encoding ${JSON.stringify(te)}` };
    if (cl.length > 0) return { kind: 'error', reason: 'content-length with transfer-encoding' };
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd < 0) return ended ? { kind: 'error', reason: 'truncated chunked body' } : { kind: 'incomplete' };
      const sizeText = buf.toString('latin1', pos, lineEnd);
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return { kind: 'error', reason: `bad chunk size line ${JSON.stringify(sizeText.slice(0, 40))}` };
      const size = parseInt(sizeText, 16);
      const dataEnd = lineEnd + 2 + size;
      if (buf.length < dataEnd + 2) return ended ? { kind: 'error', reason: 'truncated chunk' } : { kind: 'incomplete' };
      if (buf[dataEnd] !== 13 || buf[dataEnd + 1] !== 10) return { kind: 'error', reason: 'chunk data not followed by CRLF' };
      pos = dataEnd + 2;
      if (size === 0) return done(Buffer.concat(parts), 'chunked', pos);
      parts.push(buf.subarray(lineEnd + 2, dataEnd));
    }
  }
  if (cl.length > 0) {
    if (cl.length !== 1 || !/^\d{1,15}$/.test(cl[0])) return { kind: 'error', reason: `content-length ${JSON.stringify(cl)}` };
    const length = Number(cl[0]);
    if (buf.length < pos + length) return ended ? { kind: 'error', reason: 'truncated body' } : { kind: 'incomplete' };
    return done(Buffer.from(buf.subarray(pos, pos + length)), 'length', pos + length);
  }
  if (!ended) return { kind: 'incomplete' };
  return done(Buffer.from(buf.subarray(pos)), 'close', buf.length);
}

export interface StreamReading {
  /** Final (and interim) responses, in order. */
  readonly responses: WireResponse[];
  /** Bytes after a 101: a tunnel, not responses. */
  readonly tunnel: Buffer | null;
  /** Why parsing stopped before the end of the bytes, if it did. */
  readonly error: string | null;
  /** Bytes not yet forming a whole response (only when not ended). */
  readonly pending: number;
}

/** Every response in `buf`, as far as they parse. */
export function readStream(buf: Buffer, ended: boolean): StreamReading {
  const responses: WireResponse[] = [];
  let offset = 0;
  for (let guard = 0; guard < 10_000 && offset < buf.length; guard++) {
    const step = parseResponseAt(buf, offset, false, ended);
    if (step.kind === 'incomplete') return { responses, tunnel: null, error: null, pending: buf.length - offset };
    if (step.kind === 'error') return { responses, tunnel: null, error: `at byte ${offset}: ${step.reason}`, pending: 0 };
    responses.push(step.response);
    offset = step.response.end;
    if (step.response.status === 101) return { responses, tunnel: buf.subarray(offset), error: null, pending: 0 };
  }
  return { responses, tunnel: null, error: null, pending: 0 };
}

/** Every id named in an x-echo-id header or an "id=" body line anywhere in the bytes. */
export function echoedIds(bytes: Buffer | string): string[] {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:x-echo-id:[ \t]*|id=)([a-z][0-9a-z]{9})/gi)) out.push(m[1].toLowerCase());
  return out;
}
