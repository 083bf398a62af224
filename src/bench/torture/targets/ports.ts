// Listen ports for built-in targets. Picked below 32768, outside the kernel's ephemeral range
// (32768-60999 here), so that the torture client's own outgoing connections can never collide
// with a proxy's listening port.
import net from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;

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
