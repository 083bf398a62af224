// The request body as undici reads it. It attaches to the client's request only when undici first
// reads, so a request whose connect failed has sent nothing and can be retried elsewhere; and an
// upstream failure destroys the relay, never the client's connection.
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';

export class BodyRelay extends Readable {
  /** True once any byte was handed to undici: from then on the request cannot be replayed. */
  started = false;
  private attached = false;

  constructor(private readonly source: IncomingMessage) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    if (!this.attached) {
      this.attached = true;
      this.source.on('data', this.onData);
      this.source.once('end', this.onEnd);
      this.source.once('aborted', this.onAborted);
    }
    this.source.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.started = true;
    if (!this.push(chunk)) this.source.pause();
  };

  private readonly onEnd = (): void => {
    this.push(null);
  };

  private readonly onAborted = (): void => {
    this.destroy(new Error('client aborted the request body'));
  };

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    this.source.off('aborted', this.onAborted);
    callback(err);
  }
}
