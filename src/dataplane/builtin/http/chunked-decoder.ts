// Chunked transfer coding (RFC 9112 §7.1) of a response body, decoded as bytes arrive: the data
// goes to the client (node:http re-frames it for the client's own connection), the framing is
// checked strictly, and the end of the body is known exactly so the connection can be reused.

/** A chunk-size line longer than this is an attack or garbage, not a real extension. */
const MAX_LINE = 4_096;
/** Trailer fields are dropped (they are hop-by-hop here), but bounded. */
const MAX_TRAILERS = 16_384;

const enum State {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  /** Bytes of the current size line or trailer section seen so far (it may span reads). */
  private line = '';
  private trailerBytes = 0;

  /**
   * Decodes `buf` from `start`; calls `data` with each slice of body bytes (no copy). Returns the
   * index just after the body's last byte when the body ended inside `buf`, else -1. Throws on
   * malformed framing.
   */
  feed(buf: Buffer, start: number, data: (slice: Buffer) => void): number {
    let i = start;
    while (i < buf.length) {
      switch (this.state) {
        case State.Size: {
          const lf = buf.indexOf(10, i);
          const end = lf === -1 ? buf.length : lf + 1;
          this.line += buf.toString('latin1', i, end);
          i = end;
          if (this.line.length > MAX_LINE) throw new Error('chunk size line too long');
          if (lf === -1) break;
          this.remaining = parseSize(this.line);
          this.line = '';
          this.state = this.remaining === 0 ? State.Trailers : State.Data;
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, buf.length - i);
          data(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.DataEnd;
          break;
        }
        case State.DataEnd: {
          // The CRLF after each chunk's data, possibly split across reads.
          const c = buf[i++];
          if (this.line === '' && c === 13) this.line = '\r';
          else if (c === 10 && this.line === '\r') {
            this.line = '';
            this.state = State.Size;
          } else throw new Error('missing CRLF after chunk data');
          break;
        }
        case State.Trailers: {
          const lf = buf.indexOf(10, i);
          const end = lf === -1 ? buf.length : lf + 1;
          this.trailerBytes += end - i;
          this.line += buf.toString('latin1', i, end);
          i = end;
          if (this.trailerBytes > MAX_TRAILERS) throw new Error('trailer section too large');
          if (lf === -1) break;
          const blank = this.line === '\r\n';
          this.line = '';
          if (blank) {
            this.state = State.Done;
            return i;
          }
          break;
        }
        case State.Done:
          return i;
      }
    }
    return -1;
  }
}

function parseSize(line: string): number {
  if (!line.endsWith('\r\n')) throw new Error('chunk size line not ended by CRLF');
  const semi = line.indexOf(';');
  const digits = (semi === -1 ? line.slice(0, -2) : line.slice(0, semi)).trimEnd();
  if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) throw new Error(`invalid chunk size ${JSON.stringify(digits.slice(0, 20))}`);
  return parseInt(digits, 16);
}
