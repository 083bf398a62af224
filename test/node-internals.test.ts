// Every wrapper of src/util/node-internals.ts against the Node running the tests, over real
// sockets and a real child process. Each test names the Node API it depends on: when a Node
// upgrade removes or changes one, the failure says which, before hitless misbehaves in production.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getSystemErrorName } from 'node:util';
import {
  answerHalfClosedClients,
  bindTcpHandle,
  closeAfterResponse,
  freezeSocket,
  handleFd,
  hasHandle,
  httpParserIdle,
  keepsAlive,
  listenOnNativeHandle,
  pendingResponse,
  readBareHandleOnce,
  sendWithHandle,
  serverFd,
  socketFd,
  socketFromHandle,
  stopBareHandleRead,
  thawSocket,
  serverOf,
  startConnectionChecks,
  type FirstRead,
  type NativeTcpHandle,
} from '../src/util/node-internals.js';
import { ROOT } from './helpers/paths.js';
import { within } from './helpers/wait.js';

const HOST = '127.0.0.1';

/** Sends `text` (then half-closes when `end`), and resolves with everything read until the server closes. */
function exchange(port: number, text: string, end = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, HOST, () => (end ? socket.end(text) : socket.write(text)));
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

function listening(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, HOST, () => resolve((server.address() as AddressInfo).port)));
}

function bound(): NativeTcpHandle {
  const handle = bindTcpHandle(HOST, 0);
  assert.notEqual(typeof handle, 'number', 'net._createServerHandle: binding 127.0.0.1:0 failed');
  return handle as NativeTcpHandle;
}

describe('Node internals hitless depends on (src/util/node-internals.ts)', () => {
  const cleanup: Array<() => void> = [];
  after(() => cleanup.forEach((f) => f()));

  it('net._createServerHandle + TCPWrap.getsockname: binds without listening; an address in use is reported at bind time', async () => {
    const holder = net.createServer();
    cleanup.push(() => holder.close());
    const port = await listening(holder);
    const result = bindTcpHandle(HOST, port);
    assert.equal(typeof result, 'number', 'net._createServerHandle/TCPWrap.getsockname: binding an address in use must fail at once (libuv defers EADDRINUSE to listen())');
    assert.equal(getSystemErrorName(result as number), 'EADDRINUSE');

    const handle = bound();
    cleanup.push(() => handle.close());
    const fd = handleFd(handle);
    assert.ok(fd !== null, 'TCPWrap.fd: a bound handle has no file descriptor');
    assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^socket:\[\d+\]$/, 'TCPWrap.fd is not the socket descriptor');
  });

  it('net.Server._handle.fd: a listening server has a descriptor, gone once closed', async () => {
    const server = net.createServer();
    await listening(server);
    const fd = serverFd(server);
    assert.ok(fd !== null, 'net.Server._handle.fd: a listening server shows no descriptor');
    assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^socket:\[\d+\]$/);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(serverFd(server), null, 'net.Server._handle: a closed server still shows a descriptor');
  });

  it('net.Socket._handle.fd: a connected socket has its descriptor, none before it connects or once closed', async () => {
    const server = net.createServer();
    cleanup.push(() => server.close());
    const port = await listening(server);
    const socket = net.connect(port, HOST);
    assert.equal(socketFd(socket), null, 'net.Socket._handle.fd: a descriptor before the connection is made');
    await within(5_000, 'the connection', new Promise<void>((resolve) => socket.once('connect', () => resolve())));
    const fd = socketFd(socket);
    assert.ok(fd !== null, 'net.Socket._handle.fd: a connected socket shows no descriptor');
    assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^socket:\[\d+\]$/);
    socket.destroy();
    assert.equal(socketFd(socket), null, 'net.Socket._handle: a destroyed socket still shows a descriptor');
  });

  it("TCPWrap.onread/readStart/readStop + process.binding('stream_wrap').streamBaseState: a bare handle's first read is its bytes, its end or its reset", async () => {
    const server = net.createServer({ allowHalfOpen: true });
    cleanup.push(() => server.close());
    const port = await listening(server);
    /** A connected pair; the client's handle taken from its socket (as freezeSocket does for a move). */
    const pair = async (): Promise<{ handle: NativeTcpHandle; peer: net.Socket; client: net.Socket }> => {
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      const client = net.connect(port, HOST);
      client.on('error', () => {});
      await once(client, 'connect');
      const [peer] = await accepted;
      peer.on('error', () => {});
      cleanup.push(() => (client.destroy(), peer.destroy()));
      return { handle: freezeSocket(client)!, peer, client };
    };
    const first = (handle: NativeTcpHandle): Promise<FirstRead> =>
      within(5_000, 'the first read', new Promise<FirstRead>((resolve) => assert.ok(readBareHandleOnce(handle, resolve), 'TCPWrap.readStart failed')));
    const a = await pair();
    const gotA = first(a.handle);
    a.peer.write('bytes');
    const readA = await gotA;
    assert.equal(readA.kind, 'data', `streamBaseState: ${JSON.stringify(readA)}`);
    assert.equal(readA.kind === 'data' && readA.chunk.toString(), 'bytes', 'streamBaseState[kArrayBufferOffset]: the bytes read are not where it says');
    const endA = first(a.handle);
    a.peer.end();
    assert.deepEqual(await endA, { kind: 'end' }, "process.binding('uv').UV_EOF: the peer's end was not recognised");
    const b = await pair();
    const gotB = first(b.handle);
    b.peer.resetAndDestroy();
    const readB = await gotB;
    assert.equal(readB.kind === 'error' && getSystemErrorName(readB.errno), 'ECONNRESET', `a reset: ${JSON.stringify(readB)}`);
    // Stopped before any read: nothing is read until a socket takes the handle over.
    const c = await pair();
    let called = false;
    readBareHandleOnce(c.handle, () => (called = true));
    stopBareHandleRead(c.handle);
    c.peer.write('later');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(called, false, 'TCPWrap.readStop: the handle was still read');
  });

  it('server.listen(TCPWrap, backlog): a server accepts on a handle bound elsewhere', async () => {
    const handle = bound();
    const server = net.createServer((socket) => socket.end('on the handle'));
    cleanup.push(() => server.close());
    await within(5_000, 'server.listen(TCPWrap) never called back', new Promise<void>((resolve) => listenOnNativeHandle(server, handle, 16, resolve)));
    assert.equal(serverFd(server), handleFd(handle), 'server.listen(TCPWrap) did not listen on that very handle');
    assert.equal(await exchange((server.address() as AddressInfo).port, ''), 'on the handle');
  });

  describe('handles across a process line (the child is test/helpers/node-internals-child.ts)', () => {
    let child: ChildProcess;
    const messages: Array<{ how: string; port?: number; error?: string; takenOver?: boolean }> = [];
    const waiters: Array<() => void> = [];
    const next = (how: string) =>
      within(10_000, `the child's answer "${how}"`, new Promise<(typeof messages)[number]>((resolve) => {
        const look = (): void => {
          const i = messages.findIndex((m) => m.how === how);
          if (i < 0) return void waiters.push(look);
          resolve(messages.splice(i, 1)[0]);
        };
        look();
      }));
    const inherited = bound();
    after(() => {
      inherited.close();
      if (child?.connected) child.disconnect();
    });

    it('net._createServerHandle(fd): an inherited descriptor becomes a listening handle (supervisor upgrade)', async () => {
      const fd = handleFd(inherited)!;
      child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/node-internals-child.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', fd] });
      child.on('message', (m: (typeof messages)[number]) => {
        messages.push(m);
        for (const w of waiters.splice(0)) w();
      });
      const answer = await next('fd');
      assert.equal(answer.error, undefined, `net._createServerHandle(null, 0, -1, fd): ${answer.error}`);
      assert.equal(await exchange(answer.port!, ''), 'fd', 'the child does not accept on the inherited descriptor');
    });

    it('child.send(msg, TCPWrap): a bound handle crosses to a worker, which listens on it', async () => {
      const handle = bound();
      await new Promise<void>((resolve, reject) => sendWithHandle(child, { t: 'listener' }, handle, (err) => (err ? reject(err) : resolve())));
      handle.close();
      const answer = await next('ipc');
      assert.equal(answer.error, undefined, `child_process send() of a "net.Native" handle: ${answer.error}`);
      assert.equal(await exchange(answer.port!, ''), 'ipc');
    });

    it('net.Socket._handle.readStop + new Socket({ handle, pauseOnCreate }): a live connection moves, no byte read on the way', async () => {
      const seen: string[] = [];
      const accepted = new Promise<net.Socket>((resolve) => {
        const server = net.createServer((socket) => {
          socket.on('data', (d: Buffer) => seen.push(d.toString()));
          resolve(socket);
        });
        cleanup.push(() => server.close());
        void listening(server).then((port) => client.connect(port, HOST));
      });
      const client = new net.Socket();
      let got = '';
      client.on('data', (d: Buffer) => (got += d.toString()));
      const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
      const socket = await accepted;
      const first = new Promise<void>((resolve) => socket.once('data', () => resolve()));
      client.write('before');
      await within(5_000, 'the first bytes', first);

      assert.equal(hasHandle(socket), true, 'net.Socket._handle: an open socket shows no handle');
      const handle = freezeSocket(socket);
      assert.ok(handle, 'net.Socket._handle.readStop is missing');
      await new Promise<void>((resolve, reject) => sendWithHandle(child, { t: 'conn' }, handle, (err) => (err ? reject(err) : resolve())));
      assert.equal((await next('conn')).takenOver, true);
      const stolen = new Promise<never>((_, reject) => socket.on('data', () => reject(new Error('TCPWrap.readStop did not stop this process reading the connection'))));
      client.write('after');
      await within(5_000, 'the moved connection to answer and close', Promise.race([closed, stolen]));
      assert.equal(got, 'moved:after', 'new Socket({ handle }) in the child did not read the connection');
      assert.deepEqual(seen, ['before'], 'TCPWrap.readStop did not stop this process reading the connection');
      socket.destroy();
    });
  });

  it('TCPWrap.readStop/readStart/reading + new Socket({ handle, readable, writable }): a frozen socket resumes, a half-closed one is rebuilt half-closed', async () => {
    // Two connected sockets: `near` is frozen, `far` writes to it.
    const pair = new Promise<[net.Socket, net.Socket]>((resolve) => {
      const server = net.createServer({ allowHalfOpen: true }, (accepted) => resolve([accepted, far]));
      cleanup.push(() => server.close());
      let far: net.Socket;
      void listening(server).then((port) => (far = net.connect({ port, host: HOST, allowHalfOpen: true })));
    });
    const [near, far] = await pair;
    let got = '';
    near.on('data', (d: Buffer) => (got += d.toString()));
    assert.ok(freezeSocket(near), 'net.Socket._handle.readStop is missing');
    near.pause();
    far.write('held');
    await new Promise((r) => setTimeout(r, 50)); // bounded: shows no byte is read while frozen
    assert.equal(got, '', 'TCPWrap.readStop did not stop reading');
    const resumed = new Promise<void>((resolve) => near.once('data', () => resolve()));
    thawSocket(near);
    near.resume();
    await within(5_000, 'TCPWrap.readStart: thawSocket() did not start reading again', resumed);
    assert.equal(got, 'held');
    // Our side has sent its FIN: the rebuilt socket must not be writable (no second shutdown).
    await new Promise<void>((resolve) => near.end(resolve));
    const handle = freezeSocket(near)!;
    const rebuilt = socketFromHandle(handle, { writable: false });
    assert.equal(rebuilt.writableEnded, true, 'new Socket({ writable: false }) is writable');
    let rest = '';
    rebuilt.on('data', (d: Buffer) => (rest += d.toString()));
    const closed = new Promise<void>((resolve) => rebuilt.once('close', () => resolve()));
    rebuilt.resume();
    far.end('tail');
    await within(5_000, 'new Socket({ writable: false }): the half-closed socket to read the peer to its end and close', closed);
    assert.equal(rest, 'tail');
    far.destroy();
  });

  it('http.Server.httpAllowHalfOpen: a client that half-closes after its request still gets the answer', async () => {
    const server = http.createServer((req, res) => req.socket.once('end', () => res.end('answered')));
    answerHalfClosedClients(server);
    cleanup.push(() => server.close());
    const port = await listening(server);
    const reply = await within(5_000, 'the half-closed exchange', exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', true));
    assert.match(reply, /answered$/, 'http.Server.httpAllowHalfOpen: node:http dropped the request on the client FIN');
  });

  it("http.Server 'listening': connection checks (headersTimeout) run on a server that never listens itself", async () => {
    const server = http.createServer({ headersTimeout: 200, requestTimeout: 0, connectionsCheckingInterval: 50 }, (_req, res) => res.end());
    startConnectionChecks(server);
    const acceptor = net.createServer((socket) => server.emit('connection', socket));
    cleanup.push(() => {
      acceptor.close();
      server.close();
    });
    const port = await listening(acceptor);
    const reply = await within(5_000, "http.Server 'listening' no longer starts the headersTimeout checks: a stalled head was never answered", exchange(port, 'GET / HTTP/1.1\r\n'));
    assert.match(reply, /^HTTP\/1\.1 408 /);
  });

  it('socket.parser.duration, socket._httpMessage, socket.server, res.shouldKeepAlive: node:http state of a connection', async () => {
    let phase = 0;
    let headRead: () => void = () => {};
    const midMessage = new Promise<void>((resolve) => (headRead = resolve));
    const checks: string[] = [];
    const expect = (ok: boolean, api: string): void => {
      if (!ok) checks.push(api);
    };
    const server = http.createServer((req, res) => {
      const socket = req.socket;
      expect(serverOf(socket) === server, 'socket.server is not the http.Server');
      expect(pendingResponse(socket) === res, 'socket._httpMessage is not the response in progress');
      expect(keepsAlive(res), 'res.shouldKeepAlive is not true for an HTTP/1.1 request');
      if (phase++ === 0) {
        expect(httpParserIdle(socket) === false, 'socket.parser.duration() is 0 with a body still coming');
        res.once('finish', () => {
          expect(pendingResponse(socket) === null, 'socket._httpMessage is still set after the response');
          expect(httpParserIdle(socket) === true, 'socket.parser.duration() is not 0 between requests');
        });
        req.resume();
        req.on('end', () => res.end('one'));
        headRead();
      } else {
        closeAfterResponse(res);
        expect(!keepsAlive(res), 'res.shouldKeepAlive cannot be turned off');
        res.end('two');
      }
    });
    cleanup.push(() => server.close());
    const port = await listening(server);
    const client = net.connect(port, HOST);
    let got = '';
    const firstDone = new Promise<void>((resolve) => client.on('data', (d: Buffer) => ((got += d.toString()), got.endsWith('one') && resolve())));
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.write('POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
    // The rest of the body is sent only once the handler has looked, mid-message.
    await within(5_000, 'the first request', midMessage);
    client.write('67890');
    await within(5_000, 'the first response', firstDone);
    client.write('GET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(5_000, 'res.shouldKeepAlive = false did not close the connection after the response', closed);
    assert.deepEqual(checks, []);
    assert.match(got, /HTTP\/1\.1 200 [^]*HTTP\/1\.1 200 [^]*connection: close[^]*two$/i, 'the last response does not say Connection: close');
  });
});
