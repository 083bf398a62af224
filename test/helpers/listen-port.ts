// A listen port for the discovery guard and endpoint-delta tests, from 24000-24999: a range no
// other test (helpers/ports.ts: 10000-19999) or bench (20000-23999) draws from. Checked free by
// binding it; not handed out twice by this process.
import { createServer } from 'node:net';

const LOW = 24_000;
const HIGH = 24_999;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function listenPort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found in ${LOW}-${HIGH} after 100 tries`);
}
