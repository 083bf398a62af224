import { createServer } from 'node:net';

/** The first port in [low, high] that 127.0.0.1 can bind now (below the ephemeral range by choice). */
export async function freePort(low: number, high: number): Promise<number> {
  const tryPort = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      // A connection that reaches the probe (a peer of an earlier run still connecting) would
      // keep close() waiting for ever: it is dropped at once.
      const s = createServer((c) => c.destroy());
      s.once('error', () => resolve(false));
      s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
    });
  for (let port = low; port <= high; port++) if (await tryPort(port)) return port;
  throw new Error(`no free port in ${low}-${high}`);
}
