// Listen ports from a fixed range (25000-25999 here: below the ephemeral range, so no outgoing
// connection holds one, and apart from the ranges other helpers hand out), through ports.ts
// portRange: claimed against the other test processes, checked free by binding on every host
// asked for, never handed out twice by one process.
import { bindable as bindableOn, portRange } from './ports.js';

/** Whether `host:port` can be bound right now (ports.ts bindable, host first). */
export function bindable(host: string, port: number): Promise<boolean> {
  return bindableOn(port, host);
}

/** A port of 25000-25999 free on every one of `hosts` (127.0.0.1 unless said) right now. */
export const portInRange = portRange(25_000, 25_999);
