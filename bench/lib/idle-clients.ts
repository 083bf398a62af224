// A client process for bench:conns: opens COUNT connections from SOURCE (a 127.x.y.z address, so
// that each process has its own ~28k ephemeral ports), each sends one GET, reads the whole
// response and then stays open and idle. It reports to its parent over IPC and closes everything
// when told to. Bounded: at most COUNT connections, each tried at most 3 times, within TIME_LIMIT_MS.
// Usage (forked): node --import tsx idle-clients.ts PORT SOURCE COUNT CONCURRENCY
import { connect, type Socket } from 'node:net';

export type ToClients = { readonly t: 'close' };
export type FromClients =
  | { readonly t: 'ready'; readonly answered: number; readonly failed: number; readonly retries: number; readonly ms: number }
  | { readonly t: 'closed'; readonly lostBeforeClose: number };

const TIME_LIMIT_MS = 180_000;
const ATTEMPTS = 3;

const [port, count, concurrency] = [process.argv[2], process.argv[4], process.argv[5]].map(Number);
const source = process.argv[3];
const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: hitless-bench-conns\r\n\r\n`;

const held = new Set<Socket>();
let started = 0;
let answered = 0;
let failed = 0;
let retries = 0;
let inFlight = 0;
let lostBeforeClose = 0;
let closing = false;
const t0 = Date.now();

/** Whether `text` (latin1) holds a whole response: a head, then Content-Length bytes or a last chunk. */
function complete(text: string): boolean {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return false;
  const head = text.slice(0, headEnd).toLowerCase();
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length) return text.length - headEnd - 4 >= Number(length[1]);
  return /\r\ntransfer-encoding:\s*chunked/.test(head) ? text.endsWith('\r\n0\r\n\r\n') : false;
}

function open(attempt: number): void {
  inFlight++;
  const socket = connect({ host: '127.0.0.1', port, localAddress: source });
  let text = '';
  let done = false;
  const settle = (ok: boolean): void => {
    if (done) return;
    done = true;
    inFlight--;
    if (ok) answered++;
    else if (attempt + 1 < ATTEMPTS && Date.now() - t0 < TIME_LIMIT_MS) {
      retries++;
      setTimeout(() => open(attempt + 1), 100);
      return;
    } else failed++;
    pump();
  };
  socket.setNoDelay(true);
  socket.once('connect', () => socket.write(request));
  socket.on('data', (d: Buffer) => {
    if (done) return; // an idle connection receives nothing more; anything else is ignored
    text += d.toString('latin1');
    if (!complete(text)) return;
    text = '';
    held.add(socket);
    settle(true);
  });
  socket.on('error', () => {});
  socket.once('close', () => {
    if (held.delete(socket) && !closing) lostBeforeClose++;
    settle(false);
  });
}

/** Keeps `concurrency` connections in their opening exchange until `count` have been started. */
function pump(): void {
  while (inFlight < concurrency && started < count && Date.now() - t0 < TIME_LIMIT_MS) {
    started++;
    open(0);
  }
  if (inFlight === 0 && (started === count || Date.now() - t0 >= TIME_LIMIT_MS)) ready();
}

let readySent = false;
function ready(): void {
  if (readySent) return;
  readySent = true;
  clearTimeout(giveUp);
  report({ t: 'ready', answered, failed, retries, ms: Date.now() - t0 });
}
/** A connection that neither answers nor closes must not hold the run: report what there is. */
const giveUp = setTimeout(ready, TIME_LIMIT_MS + 5_000);

function report(msg: FromClients): void {
  process.send?.(msg);
}

process.on('message', (msg: ToClients) => {
  if (msg.t !== 'close') return;
  closing = true;
  for (const socket of held) socket.destroy();
  held.clear();
  report({ t: 'closed', lostBeforeClose });
  process.disconnect?.();
});
// The parent is the only reason to stay: when it goes, so does this process.
process.on('disconnect', () => process.exit(0));
pump();
