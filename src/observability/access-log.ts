// Access log sinks: one buffered sonic-boom (through pino.destination) per file, shared by every
// service that names it. A request costs one object (or one string) and one write(); the buffer
// reaches the disk every 4 KiB or every second, whichever comes first.
import { destination } from 'pino';
import type { AccessLogConfig } from '../config/model.js';
import type { AccessRecord, AccessWriter } from '../dataplane/access-record.js';

export type { AccessRecord } from '../dataplane/access-record.js';

type Sink = ReturnType<typeof destination>;

const sinks = new Map<string, Sink>();
let hupInstalled = false;

function sinkFor(path: string): Sink {
  let sink = sinks.get(path);
  if (sink) return sink;
  sink =
    path === 'stderr'
      ? destination({ dest: 2, sync: false, minLength: 4096, periodicFlush: 1000 })
      : destination({ dest: path, sync: false, minLength: 4096, periodicFlush: 1000, mkdir: true, append: true });
  sinks.set(path, sink);
  if (!hupInstalled && path !== 'stderr') {
    // logrotate: after a rename, SIGHUP makes every file sink reopen its path.
    hupInstalled = true;
    process.on('SIGHUP', reopenAccessLogs);
  }
  return sink;
}

export function reopenAccessLogs(): void {
  for (const [path, sink] of sinks) if (path !== 'stderr') sink.reopen();
}

/** Writes what is buffered, synchronously: for exit paths and tests. */
export function flushAccessLogs(): void {
  for (const sink of sinks.values()) {
    try {
      sink.flushSync();
    } catch {
      /* a sink still opening has nothing buffered that flushSync could write */
    }
  }
}
process.once('exit', flushAccessLogs);

/** The formatter + sink of one service's access_log (a service runtime keeps it; the sink is shared by path). */
export function accessWriterFor(config: AccessLogConfig): AccessWriter {
  const sink = sinkFor(config.path);
  return config.format === 'combined' ? (r) => sink.write(formatCombined(r)) : (r) => sink.write(JSON.stringify(r) + '\n');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * nginx's "combined" line, then hitless's fields as key=value (what HAProxy puts in its httplog):
 * 127.0.0.1 - - [25/Nov/2025:12:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8" service=web ...
 */
export function formatCombined(r: AccessRecord): string {
  const d = new Date(r.time);
  const stamp = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  const ip = r.client.startsWith('[') ? r.client.slice(1, r.client.lastIndexOf(']')) : r.client.slice(0, r.client.lastIndexOf(':'));
  const request = r.method ? `${r.method} ${r.path ?? '/'} HTTP/1.1` : '-';
  return (
    `${ip} - - [${stamp}] "${escape(request)}" ${r.status} ${r.bytes_out} "${escape(r.referer ?? '-')}" "${escape(r.user_agent ?? '-')}"` +
    ` client=${r.client} service=${r.service} cluster=${r.cluster ?? '-'} endpoint=${r.endpoint ?? '-'} bytes_in=${r.bytes_in}` +
    ` duration_ms=${r.duration_ms} retries=${r.retries} error=${r.error ?? '-'}\n`
  );
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function escape(text: string): string {
  return text.replace(/["\\\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}
