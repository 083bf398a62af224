// A stand-in for systemd's notification socket ($NOTIFY_SOCKET): a unix datagram socket whose
// messages (READY=1, MAINPID=…) a test can wait for. Node has no unix datagram sockets, so perl
// (perl-base is essential on Debian) binds it and prints each datagram as one line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { reapOnExit } from './reap.js';
import { waitFor } from './wait.js';

const RECEIVER = `
use Socket;
socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
bind($s, pack_sockaddr_un($ARGV[0])) or die "bind $ARGV[0]: $!";
$| = 1;
print "bound\\n";
# Ancillary data is not asked for: the fd that systemd-notify's BARRIER=1 passes is closed by the
# kernel on receipt, which is what releases systemd-notify's wait.
# One line per datagram, its assignments separated by tabs.
while (defined(recv($s, my $m, 65536, 0))) { $m =~ s/\\n+$//; $m =~ s/\\n/\\t/g; print "$m\\n"; }
`;

export interface NotifyMessage {
  readonly at: number;
  readonly fields: Readonly<Record<string, string>>;
}

export class NotifySocket {
  readonly messages: NotifyMessage[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly path: string,
  ) {}

  /** Binds `path`; resolves once it receives. */
  static async bind(path: string): Promise<NotifySocket> {
    const child = reapOnExit(spawn('perl', ['-e', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const socket = new NotifySocket(child, path);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    let buffered = '';
    let bound = false;
    child.stdout!.on('data', (c: Buffer) => {
      buffered += c.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'bound') bound = true;
        else socket.messages.push({ at: Date.now(), fields: Object.fromEntries(line.split('\t').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) });
      }
    });
    await waitFor(`perl to bind ${path}`, () => {
      if (child.exitCode !== null) throw new Error(`the notify socket receiver exited: ${stderr}`);
      return bound;
    });
    return socket;
  }

  /** The first message (from `from` on) that has `key`, waiting up to `timeoutMs`. */
  waitFor(key: string, from = 0, timeoutMs = 20_000): Promise<NotifyMessage> {
    return waitFor(`a ${key}= notification`, () => this.messages.slice(from).find((m) => key in m.fields), { timeoutMs });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
