// The two ends of bench/handover.ts's connections, each in its own process (10,000 sockets each,
// within the descriptor limit): `echo PORT` echoes every byte; `clients PORT N` opens N
// connections through hitless, each proven by one echoed 4-byte number, and on `check` proves
// each again and says how many closed meanwhile or answered wrong.
import { connect, createServer, type Socket } from 'node:net';

type Command = { t: 'check' } | { t: 'close' };
const [role, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const reply = (msg: object): void => void process.send?.(msg);

if (role === 'echo') {
  const server = createServer({ noDelay: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => reply({ t: 'listening' }));
  process.on('disconnect', () => process.exit(0));
} else {
  const n = Number(countText);
  const sockets: Socket[] = [];
  const closed = new Set<number>();
  /** Sends connection i's next number and resolves true when the same 4 bytes come back. */
  const prove = (i: number, round: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = sockets[i];
      if (closed.has(i)) return resolve(false);
      const want = Buffer.alloc(4);
      want.writeUInt32BE(i * 16 + round);
      let got = Buffer.alloc(0);
      const timer = setTimeout(() => done(false), 20_000);
      const onData = (d: Buffer): void => {
        got = Buffer.concat([got, d]);
        if (got.length >= 4) done(got.subarray(0, 4).equals(want) && got.length === 4);
      };
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        s.off('data', onData);
        s.off('close', onClose);
        resolve(ok);
      };
      const onClose = (): void => done(false);
      s.on('data', onData);
      s.once('close', onClose);
      s.write(want);
    });
  const proveAll = async (round: number): Promise<number> => {
    let failed = 0;
    // A few hundred at a time: the proxy's accept queue and the loopback are not the subject.
    for (let from = 0; from < n; from += 500) {
      const results = await Promise.all(Array.from({ length: Math.min(500, n - from) }, (_, k) => prove(from + k, round)));
      failed += results.filter((ok) => !ok).length;
    }
    return failed;
  };
  const open = async (): Promise<void> => {
    for (let from = 0; from < n; from += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, n - from) }, (_, k) => {
          const i = from + k;
          return new Promise<void>((resolve) => {
            const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve());
            s.on('error', () => resolve());
            s.once('close', () => closed.add(i));
            sockets[i] = s;
          });
        }),
      );
    }
    reply({ t: 'opened', failed: await proveAll(0) });
  };
  process.on('message', (msg: Command) => {
    if (msg.t === 'check') void proveAll(1).then((failed) => reply({ t: 'checked', failed, closed: closed.size }));
    else if (msg.t === 'close') {
      for (const s of sockets) s?.destroy();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  void open();
}
