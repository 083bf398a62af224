// Listen ports for built-in targets. Picked below 32768, outside the kernel's ephemeral range
// (32768-60999 here), so that the torture client's own outgoing connections can never collide
// with a proxy's listening port.
import net from 'node:net';

let LOW = 20_000;
let HIGH = 32_000;

/** `--ports LOW-HIGH`: several benches on one machine each keep to their own range. */
export function setPortRange(low: number, high: number): void {
  if (!(Number.isInteger(low) && Number.isInteger(high) && low >= 1024 && high >= low + 10 && high < 65536)) {
    throw new Error(`--ports expects LOW-HIGH with 1024 <= LOW, LOW + 10 <= HIGH < 65536, found ${low}-${high}`);
  }
  LOW = low;
  HIGH = high;
}

export async function freePort(host = '127.0.0.1', taken: Set<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (taken.has(port)) continue;
    if (await canBind(host, port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${LOW}-${HIGH} on ${host}`);
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
