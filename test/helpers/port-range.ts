// Listen ports from a fixed range (25000-25999 here: below the ephemeral range, so no outgoing
// connection holds one, and apart from the ranges other helpers hand out), each claimed against
// the other test processes (ports.ts claimPort) and checked free by binding it, never handed out
// twice by one process.
import { bindable as bindableOn, claimPort } from './ports.js';

const handedOut = new Set<number>();

/** Whether `host:port` can be bound right now (ports.ts bindable, host first). */
export function bindable(host: string, port: number): Promise<boolean> {
  return bindableOn(port, host);
}

/** A port free on every one of `hosts` right now. */
export async function portInRange(hosts: readonly string[] = ['127.0.0.1'], low = 25_000, high = 25_999): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (!claimPort(port)) continue;
    let free = true;
    for (const host of hosts) free &&= await bindable(host, port);
    if (free) return port;
  }
  throw new Error(`no free port found in ${low}-${high} after 200 tries`);
}
