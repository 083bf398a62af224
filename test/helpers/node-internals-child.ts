// The child side of test/node-internals.test.ts, run as `node --import tsx` with IPC: it gets
// sockets the ways a worker and a new supervisor get them, only through src/util/node-internals.ts,
// and answers on each. fd 4: a bound socket inherited as a descriptor (supervisor upgrade); IPC
// 'listener': a bound handle (a worker's listening socket); IPC 'conn': a live connection whose
// reading was stopped in the parent (a keep-alive connection handed over at an upgrade).
import { createServer, type AddressInfo } from 'node:net';
import { listenOnNativeHandle, socketFromHandle, tcpHandleFromFd, type NativeTcpHandle } from '../../src/util/node-internals.js';

const reply = (msg: object): void => void process.send?.(msg);

function listenOn(handle: NativeTcpHandle, how: string): void {
  const server = createServer((socket) => socket.end(how));
  server.once('error', (err) => reply({ how, error: err.message }));
  listenOnNativeHandle(server, handle, 16, () => reply({ how, port: (server.address() as AddressInfo).port }));
}

const inherited = tcpHandleFromFd(4);
if (typeof inherited === 'number') reply({ how: 'fd', error: `errno ${inherited}` });
else listenOn(inherited, 'fd');

process.on('message', (msg: { t: string }, handle?: object) => {
  if (!handle) return reply({ how: msg.t, error: 'no handle beside the message' });
  if (msg.t === 'listener') return listenOn(handle as NativeTcpHandle, 'ipc');
  const socket = socketFromHandle(handle);
  socket.once('data', (data: Buffer) => socket.end(`moved:${data.toString()}`));
  socket.resume(); // created paused, as a worker's pool creates it until the HTTP side reads
  reply({ how: 'conn', takenOver: true });
});
process.on('disconnect', () => process.exit(0));
