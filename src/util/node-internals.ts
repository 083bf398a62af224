// Every use hitless makes of Node's private or undocumented APIs, in one place. Each is something
// Node's public API cannot do (share a bound socket between processes without listening on it,
// move a live connection to another process, read node:http's per-connection state); each says
// below why it is needed and what breaks without it. test/node-internals.test.ts exercises every
// wrapper against the running Node and names the API that changed, so a Node upgrade that removes
// one fails there, not in production. Nothing outside this file touches these internals.
import * as net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import type { Server as HttpServer, ServerResponse } from 'node:http';
import { ErrorCodes, HitlessError } from '../errors.js';

/**
 * A Node internal changed in a way hitless cannot work with: names the API and the Node version.
 * It reaches the operator (startup, an apply's answer), so it carries a code: INTERNAL.
 */
export class NodeInternalsError extends HitlessError {
  constructor(api: string, what: string) {
    super(ErrorCodes.INTERNAL, `Node ${process.version}: ${api} ${what}; hitless depends on it (src/util/node-internals.ts)`);
    this.name = 'NodeInternalsError';
  }
}

/**
 * A libuv TCP handle (Node's TCPWrap) outside any net.Server or net.Socket: what
 * `net._createServerHandle` returns and what child_process passes as a "net.Native" handle.
 */
export interface NativeTcpHandle {
  close(callback?: () => void): void;
}

/** The TCPWrap methods and fields this file reads; never seen outside it. */
interface TcpWrap extends NativeTcpHandle {
  readonly fd?: number;
  getsockname?(out: Record<string, unknown>): number;
  readStop?(): number;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => TcpWrap | number;

// ---- net._createServerHandle ------------------------------------------------------------------
// Why: the supervisor must hold a bound socket for as long as an address is configured without
// accepting on it (its workers do), exactly as Node's cluster primary does. Public net.Server only
// binds by listening, and a listening supervisor would accept connections itself.
// Without it: no supervisor-owned sockets, so a crashed worker's address would refuse connections
// and a supervisor upgrade could not re-open inherited listening fds.
function createServerHandle(): CreateServerHandle {
  const fn = (net as unknown as { _createServerHandle?: unknown })._createServerHandle;
  if (typeof fn !== 'function') throw new NodeInternalsError('net._createServerHandle', 'is missing');
  return fn as CreateServerHandle;
}

/**
 * Binds (never listens on) `host:port`; a negative errno on failure. libuv defers EADDRINUSE from
 * bind() to listen(): getsockname() (a TCPWrap method) reports it now, so a bind failure is known
 * before any worker is asked to listen.
 */
export function bindTcpHandle(host: string, port: number): NativeTcpHandle | number {
  const result = createServerHandle()(host, port, net.isIPv6(host) ? 6 : 4, undefined, 0);
  if (typeof result === 'number') return result;
  if (typeof result.getsockname !== 'function') {
    result.close();
    throw new NodeInternalsError('TCPWrap.getsockname', 'is missing');
  }
  const rc = result.getsockname({});
  if (rc !== 0) {
    result.close();
    return rc;
  }
  return result;
}

/** A handle over an inherited listening socket `fd` (supervisor upgrade); a negative errno on failure. */
export function tcpHandleFromFd(fd: number): NativeTcpHandle | number {
  return createServerHandle()(null, 0, -1, fd, 0);
}

// ---- TCPWrap.fd, net.Server._handle -----------------------------------------------------------
// Why: the descriptor of a listening socket is what a supervisor upgrade passes to its successor
// (spawn stdio), and what /proc/self/fd resolves to the socket's inode: the identity status shows
// and tests compare to prove an apply kept a socket. Node exposes no fd for a server or a handle.
// Without it: no supervisor upgrade, and no proof of invariant 1.

/** The file descriptor of a native handle, or null (closed, or not a descriptor-backed handle). */
export function handleFd(handle: NativeTcpHandle | null | undefined): number | null {
  const fd = (handle as TcpWrap | null | undefined)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/** The file descriptor of a listening net.Server, or null when it is not listening. */
export function serverFd(server: net.Server): number | null {
  return handleFd((server as unknown as { _handle?: TcpWrap | null })._handle);
}

// ---- net.Socket._handle.fd ---------------------------------------------------------------------
// Why: a pooled endpoint connection is asked, just before a request is written on it, whether
// anything waits unread on it (idle-socket-probe.ts says why); that question goes to the socket's
// descriptor, and net.Socket does not show it.
// Without it: the probe cannot tell, and the window it closes stays open.

/** The descriptor of a connected net.Socket, or null (not connected, closed, or not descriptor-backed: TLS). */
export function socketFd(socket: net.Socket): number | null {
  return handleFd((socket as unknown as { _handle?: TcpWrap | null })._handle);
}

// ---- server.listen(native handle) -------------------------------------------------------------
// Why: a worker listens on the bound handle its supervisor sent. server.listen(handle) documents
// only objects with a `_handle` or an `fd`; Node also takes a bare TCPWrap (what child_process
// delivers), and that is the one that keeps the supervisor's copy and the worker's one socket.
// The backlog is an argument: in an options object Node ignores it for a handle and keeps 511.
// Without it: workers could not share the supervisor's sockets.
export function listenOnNativeHandle(server: net.Server, handle: NativeTcpHandle, backlog: number, callback: () => void): void {
  server.listen(handle as never, backlog, callback);
}

// ---- net.Socket._handle, TCPWrap.readStop, new Socket({ handle, pauseOnCreate }) -------------
// Why: an idle keep-alive connection of a draining worker moves to the new generation with its
// file descriptor. readStop() stops libuv reading so that no byte is consumed between the idle
// check and the send (pause() alone leaves libuv reading into the stream's buffer); on the other
// side a Socket is built around the received TCPWrap, paused until the HTTP side takes it.
// Without it: an upgrade would have to close idle keep-alive connections, racing the client's
// next request (the client sees a reset).

/** Whether the socket still has its libuv handle (false once closed or handed away). */
export function hasHandle(socket: net.Socket): boolean {
  return Boolean((socket as unknown as { _handle?: unknown })._handle);
}

/**
 * Stops reading on `socket` and returns its handle to send to another process; null if it has none.
 * The handle's `reading` flag (net.Socket's own record of it) is cleared too, so that a later
 * resume() or read() of the socket starts libuv reading again (a tunnel that could not be moved
 * carries on here).
 */
export function freezeSocket(socket: net.Socket): NativeTcpHandle | null {
  const handle = (socket as unknown as { _handle?: (TcpWrap & { reading?: boolean }) | null })._handle;
  if (!handle || typeof handle.readStop !== 'function') return null;
  handle.readStop();
  handle.reading = false;
  return handle;
}

/**
 * Starts libuv reading again on a socket frozen with freezeSocket() (its tunnel could not be moved
 * and carries on here). resume() alone does not: the stream still counts the read it had asked
 * for before the freeze as pending, so it never asks the handle again.
 */
export function thawSocket(socket: net.Socket): void {
  const handle = (socket as unknown as { _handle?: (TcpWrap & { reading?: boolean; readStart?(): number }) | null })._handle;
  if (!handle || handle.reading || typeof handle.readStart !== 'function') return;
  handle.reading = true;
  handle.readStart();
}

/**
 * Which directions of a received connection are still open in this process: a tunnel handed over
 * half-closed arrives with its finished side(s) already done (no read after the peer's FIN, no
 * second shutdown after ours).
 */
export interface HandleDirections {
  readonly readable?: boolean;
  readonly writable?: boolean;
}

/** A socket around a handle received from another process, paused until someone reads it. */
export function socketFromHandle(handle: object, directions: HandleDirections = {}): net.Socket {
  return new net.Socket({ handle, allowHalfOpen: true, readable: directions.readable !== false, writable: directions.writable !== false, pauseOnCreate: true } as never);
}

type Binding = (name: string) => Record<string, unknown>;

/** process.binding (deprecated, still in Node 20): the native modules the sections below reach. */
function processBinding(): Binding {
  const binding = (process as unknown as { binding?: Binding }).binding;
  if (typeof binding !== 'function') throw new NodeInternalsError('process.binding', 'is missing');
  return binding;
}

// ---- TCPWrap.onread/readStart/readStop on a bare handle, process.binding('stream_wrap') ---------
// Why: a moved tunnel is often silent for a long time (a WebSocket between pings), and building
// its two net.Sockets is most of what taking a moved tunnel costs (bench:join-cost). Until a peer
// sends something (or the tunnel is needed otherwise), each handle that came over IPC is read by
// libuv with a handler of our own, which reads the outcome of that first read as node:net's
// onStreamRead does: streamBaseState[kReadBytesOrError] (bytes, 0, or a negative errno, UV_EOF at
// the end) and [kArrayBufferOffset].
// Without it: each moved tunnel builds both its sockets when it arrives.

/** The outcome of a bare handle's first read: bytes, the peer's end, or an error (a negative errno). */
export type FirstRead = { readonly kind: 'data'; readonly chunk: Buffer } | { readonly kind: 'end' } | { readonly kind: 'error'; readonly errno: number };

interface ReadableTcpWrap extends TcpWrap {
  /** An accessor that takes only a function: assigning null aborts the process (a C++ assertion). */
  onread?: (arrayBuffer: ArrayBuffer | undefined) => void;
  readStart?(): number;
}

/** What a bare handle's onread is once its first read was taken (it reads no more until a socket takes it). */
const readNoMore = (): void => {};

interface StreamBaseState {
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
  readonly eof: number;
}

let streamBase: StreamBaseState | null = null;

function streamBaseState(): StreamBaseState {
  if (streamBase !== null) return streamBase;
  const binding = processBinding();
  const { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset } = binding('stream_wrap') as Partial<StreamBaseState>;
  const { UV_EOF } = binding('uv') as { UV_EOF?: number };
  if (!(state instanceof Int32Array) || typeof kReadBytesOrError !== 'number' || typeof kArrayBufferOffset !== 'number' || typeof UV_EOF !== 'number') {
    throw new NodeInternalsError("process.binding('stream_wrap').streamBaseState/kReadBytesOrError/kArrayBufferOffset or process.binding('uv').UV_EOF", 'is missing');
  }
  return (streamBase = { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset, eof: UV_EOF });
}

/**
 * Starts libuv reading a bare TCP handle (one received from another process, wrapped by no
 * socket) and stops at the first read, handing its outcome to `onFirst`. False if reading could
 * not start (the handle is closed). A socket built around the handle later (socketFromHandle)
 * replaces the handler and reads on from where this left off.
 */
export function readBareHandleOnce(handle: NativeTcpHandle, onFirst: (first: FirstRead) => void): boolean {
  const h = handle as ReadableTcpWrap;
  if (typeof h.readStart !== 'function' || typeof h.readStop !== 'function') throw new NodeInternalsError('TCPWrap.readStart/readStop', 'is missing');
  const state = streamBaseState();
  h.onread = (arrayBuffer) => {
    const nread = state.streamBaseState[state.kReadBytesOrError];
    if (nread === 0) return; // nothing this time (libuv's EAGAIN)
    h.readStop!();
    h.onread = readNoMore;
    if (nread > 0 && arrayBuffer !== undefined) onFirst({ kind: 'data', chunk: Buffer.from(arrayBuffer, state.streamBaseState[state.kArrayBufferOffset], nread) });
    else if (nread === state.eof) onFirst({ kind: 'end' });
    else onFirst({ kind: 'error', errno: nread });
  };
  return h.readStart() === 0;
}

/** Stops a readBareHandleOnce() before its first read (the handle is about to be used otherwise). */
export function stopBareHandleRead(handle: NativeTcpHandle): void {
  const h = handle as ReadableTcpWrap;
  h.readStop?.();
  h.onread = readNoMore;
}

// ---- child_process send() of a native handle --------------------------------------------------
// Why: the supervisor sends its bound TCPWrap to each worker, and idle connections travel worker
// → supervisor → worker as TCPWraps. send() documents net.Socket / net.Server only; Node's
// internal "net.Native" conversion carries a bare handle (its fd duplicated in the receiver).
// Without it: neither listening sockets nor handed-over connections could cross to a worker.
type IpcSend = (message: unknown, handle: unknown, callback: (err: Error | null) => void) => boolean;

/** Sends `message` with `handle` beside it over `channel` (a child, or process for the parent). */
export function sendWithHandle(channel: ChildProcess | NodeJS.Process, message: unknown, handle: object, callback: (err: Error | null) => void): boolean {
  const send = channel.send as unknown as IpcSend | undefined;
  if (typeof send !== 'function') throw new NodeInternalsError('process.send', 'is missing (no IPC channel)');
  return send.call(channel, message, handle, callback);
}

// ---- process.binding('tcp_wrap') TCP(SOCKET).open(fd), process.binding('pipe_wrap') Pipe(SOCKET).open(fd)
// Why: a tunnel's descriptors can arrive 64 at a time over a lane (fd-lane.ts), read with
// recvmsg(2) outside libuv; each is wrapped here in the handle Node's own IPC reader makes for a
// received TCP socket (a TCPWrap of type SOCKET), which a net.Socket can be built around later.
// The lane's own end travels to the other process beside a write on an IPC pipe, which sends
// only a libuv handle's descriptor: a Pipe handle is made around it for that.
// Without it: every descriptor is one IPC message, one read and one turn of the event loop.

interface OpenableWrap extends NativeTcpHandle {
  open(fd: number): number;
}

function wrapConstructor(module: 'tcp_wrap' | 'pipe_wrap', name: 'TCP' | 'Pipe'): { create: new (type: number) => OpenableWrap; socket: number } {
  const binding = processBinding();
  const exports = binding(module) as Record<string, unknown>;
  const create = exports[name];
  const socket = (exports.constants as { SOCKET?: unknown } | undefined)?.SOCKET;
  if (typeof create !== 'function' || typeof socket !== 'number') throw new NodeInternalsError(`process.binding('${module}').${name}/constants.SOCKET`, 'is missing');
  return { create: create as new (type: number) => OpenableWrap, socket };
}

let tcpWrap: ReturnType<typeof wrapConstructor> | null = null;
let pipeWrap: ReturnType<typeof wrapConstructor> | null = null;

/** A connected TCP socket's descriptor (now this process's) wrapped in a handle; a negative errno (the descriptor is left open) on failure. */
export function connectedTcpHandle(fd: number): NativeTcpHandle | number {
  return openWrap((tcpWrap ??= wrapConstructor('tcp_wrap', 'TCP')), fd);
}

/** A unix socket's descriptor wrapped in a Pipe handle, to send beside an IPC write; a negative errno on failure. */
export function unixSocketHandle(fd: number): NativeTcpHandle | number {
  return openWrap((pipeWrap ??= wrapConstructor('pipe_wrap', 'Pipe')), fd);
}

function openWrap(kind: ReturnType<typeof wrapConstructor>, fd: number): NativeTcpHandle | number {
  const handle = new kind.create(kind.socket);
  const rc = handle.open(fd);
  if (rc !== 0) {
    handle.close();
    return rc;
  }
  return handle;
}

// ---- http.Server.httpAllowHalfOpen -----------------------------------------------------------
// Why: a client that half-closes after its request still wants the answer (RFC 9112 §9.6).
// Without it: node:http aborts the requests in flight on the client's FIN and ends the socket,
// so such a client gets no response.
export function answerHalfClosedClients(server: HttpServer): void {
  if (!('httpAllowHalfOpen' in server)) throw new NodeInternalsError('http.Server.httpAllowHalfOpen', 'is missing');
  (server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
}

// ---- http.Server 'listening' starts the connection checks ------------------------------------
// Why: hitless's http.Server never listens (the listener pool accepts and hands sockets over with
// the documented emit('connection')), but Node starts tracking connections, and with it the
// headersTimeout / requestTimeout checks, only on the server's 'listening' event.
// Without it: timeouts.header (slowloris protection) is never enforced on the node:http path.
export function startConnectionChecks(server: HttpServer): void {
  server.emit('listening');
}

// ---- node:http's per-socket state: socket.parser, socket._httpMessage, socket.server ---------
// Why: a draining worker must tell an idle keep-alive connection (safe to hand over) from one
// with a request in progress, and mark the response in progress as the connection's last.
// node:http keeps that state on the socket: its HTTP parser (whose duration() is 0 between
// messages), the response being written, and the http.Server it belongs to.
// Without it: connections node:http took over could not be handed over at an upgrade.

/**
 * Whether node:http's parser on `socket` is between messages (or never read a byte); null when
 * node:http has no parser on it (not an HTTP connection, or one it let go of).
 */
export function httpParserIdle(socket: net.Socket): boolean | null {
  const parser = (socket as unknown as { parser?: { duration?: () => number } | null }).parser;
  if (!parser || typeof parser.duration !== 'function') return null;
  // duration() is 0 when no message is in progress (its start time is reset at message end).
  return parser.duration() === 0 || socket.bytesRead === 0;
}

/** The response node:http is writing on `socket`, if any. */
export function pendingResponse(socket: net.Socket): ServerResponse | null {
  return (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
}

/** The server whose connection `socket` is (node:http sets it to itself when it takes a connection). */
export function serverOf(socket: net.Socket): unknown {
  return (socket as unknown as { server?: unknown }).server;
}

// ---- OutgoingMessage.shouldKeepAlive ----------------------------------------------------------
// Why: the one switch that makes node:http answer `Connection: close` and end the connection after
// this response (typed in @types/node, absent from Node's documentation). Read, it says whether
// the client asked to close (Connection: close, HTTP/1.0).
// Without it: a draining worker, a retired frontend or an error answer could not end a keep-alive
// connection after the current response, only cut it.

/** Whether node:http will keep the connection open after `res`. */
export function keepsAlive(res: ServerResponse): boolean {
  return res.shouldKeepAlive;
}

/** `res` is the connection's last response: sent with `Connection: close`, the socket ends after it. */
export function closeAfterResponse(res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

// ---- process.binding('pipe_wrap') Pipe(IPC).open(fd), writeUtf8String(req, text, handle) ------
// Why: at a code upgrade a draining worker moves every tunnel (two handles each) to a worker of
// the next generation. child_process's channel exists only between a parent and its child, takes
// one handle per message and waits for the receiver's acknowledgement before it sends the next:
// 10,000 connections took 19 s through the supervisor. A socketpair that both workers inherited
// (process/move-channel.ts), opened here as an IPC pipe, carries one handle per write with no
// acknowledgement: libuv's own SCM_RIGHTS transport, which child_process itself is built on.
// The pipe's reads hand over the received handle as `pendingHandle` (a TCPWrap, as child_process
// receives them); a read delivers at most one (the kernel ends a read after a message that carries
// descriptors), in the order they were written.
// Caution, measured: once the writer has closed its end (or died), libuv reports the end of the
// stream at the next read that did not fill its buffer (it takes the hang-up for "nothing left"),
// and every read of a message with a descriptor is such a read: 60 of 500 messages were still
// unread there. So an end reported right after a read that brought data starts reading again;
// only an end with nothing read since is the end (a prototype then read all 500).
// Without it: moves go through the supervisor, one acknowledged handle at a time.

/** A socketpair end opened as an IPC pipe: text with at most one handle beside each write. */
export interface HandlePipe {
  /** Writes `text` (and `handle`'s descriptor); `done(errno)` once written (0) or failed (< 0). */
  write(text: string, handle: NativeTcpHandle | null, done: (errno: number) => void): void;
  close(): void;
}

interface PipeWrap {
  open(fd: number): number;
  readStart(): number;
  writeUtf8String(req: object, text: string, handle?: unknown): number;
  close(callback?: () => void): void;
  onread: ((buffer: ArrayBuffer | undefined) => void) | null;
  pendingHandle?: NativeTcpHandle | null;
}

/**
 * Opens the inherited socket `fd` as an IPC pipe and starts reading it: `onRead(bytes, handle)`
 * for each read (`handle`, the descriptor that came with these bytes, or null), `onRead(null,
 * null)` once at its end (the other process closed it or exited).
 */
export function openHandlePipe(fd: number, onRead: (bytes: Buffer | null, handle: NativeTcpHandle | null) => void): HandlePipe {
  const binding = processBinding();
  const { Pipe, constants } = binding('pipe_wrap') as { Pipe?: new (type: number) => PipeWrap; constants?: { IPC?: number } };
  const { WriteWrap, streamBaseState, kLastWriteWasAsync } = binding('stream_wrap') as {
    WriteWrap?: new () => { handle?: unknown; oncomplete?: (status: number) => void };
    streamBaseState?: Int32Array;
    kLastWriteWasAsync?: number;
  };
  if (typeof Pipe !== 'function' || typeof constants?.IPC !== 'number') throw new NodeInternalsError("process.binding('pipe_wrap').Pipe", 'is missing');
  if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array) || typeof kLastWriteWasAsync !== 'number') {
    throw new NodeInternalsError("process.binding('stream_wrap').WriteWrap/streamBaseState", 'is missing');
  }
  // A received TCP descriptor is wrapped with node:net's TCPWrap template: Node aborts the process
  // if it was never set up (node:net does that when loaded; this file imports it).
  binding('tcp_wrap');
  const pipe = new Pipe(constants.IPC);
  const rc = pipe.open(fd);
  if (rc !== 0) throw new Error(`cannot open descriptor ${fd} as an IPC pipe (errno ${rc})`);
  let ended = false;
  /** Reads that brought data since reading last (re)started. */
  let reads = 0;
  pipe.onread = (buffer) => {
    const handle = pipe.pendingHandle ?? null;
    pipe.pendingHandle = null;
    if (buffer === undefined) {
      handle?.close();
      if (ended) return;
      if (reads > 0 && pipe.readStart() === 0) {
        reads = 0; // maybe not the end (above): read on
        return;
      }
      ended = true;
      onRead(null, null);
      return;
    }
    reads++;
    onRead(Buffer.from(buffer), handle);
  };
  pipe.readStart();
  return {
    write(text, handle, done) {
      if (ended) return done(-32); // EPIPE
      const req = new WriteWrap();
      req.handle = pipe;
      req.oncomplete = (status) => done(status);
      const err = handle ? pipe.writeUtf8String(req, text, handle) : pipe.writeUtf8String(req, text);
      // A write that failed, or that was written at once (no handle), never completes: said here.
      if (err !== 0) done(err);
      else if (streamBaseState[kLastWriteWasAsync] === 0) queueMicrotask(() => done(0));
    },
    close() {
      if (!ended) {
        ended = true;
        pipe.close();
      }
    },
  };
}
