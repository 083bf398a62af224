// A client for HAProxy's CLI sockets: one connection per command, as the non-interactive CLI
// expects. The master CLI keeps a connection open until the client half-closes, so we always
// end our side after writing the command line.
import net from 'node:net';
import { ErrorCodes, HitlessError } from '../../errors.js';

/** HAProxy's CLI refused or did not answer a command (the driver falls back to a reload, or rejects the apply). */
export class RuntimeApiError extends HitlessError {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(ErrorCodes.DATAPLANE_REJECTED, `haproxy "${command}": ${message}`);
    this.name = 'RuntimeApiError';
  }
}

const DEFAULT_TIMEOUT_MS = 5_000;

/** Sends one command line to a unix CLI socket and returns everything HAProxy answered. */
export function cliCommand(socketPath: string, command: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  // A command with a payload (set ssl cert ... <<) is named by its first line: the payload may hold a key.
  const name = command.split('\n', 1)[0];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RuntimeApiError(name, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(new RuntimeApiError(name, err.message));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/**
 * The worker's admin socket (stats socket ... level admin). Commands that change state answer
 * with an empty line or a short confirmation; anything else is an error message, which we throw.
 */
export class WorkerApi {
  constructor(readonly socketPath: string) {}

  raw(command: string): Promise<string> {
    return cliCommand(this.socketPath, command);
  }

  /** Runs a state-changing command; `ok` says which answers mean success. */
  async run(command: string, ok: (answer: string) => boolean = (a) => a.trim() === ''): Promise<void> {
    const answer = await this.raw(command);
    if (!ok(answer)) throw new RuntimeApiError(command, answer.trim() || 'empty answer');
  }

  /** `filter`: "<proxy> <type> <sid>", e.g. "web:default 4 -1" for that backend's servers. */
  async showStat(filter = ''): Promise<StatRow[]> {
    return parseCsv(await this.raw(`show stat ${filter}`.trim()));
  }

  async showServersState(): Promise<string> {
    return this.raw('show servers state');
  }
}

export type StatRow = Readonly<Record<string, string>>;

/** `show stat` is CSV whose header line starts with "# ". */
export function parseCsv(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift();
  if (!header?.startsWith('# ')) return [];
  const keys = header.slice(2).split(',');
  return lines.map((line) => {
    const values = line.split(',');
    return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  });
}

export interface ProcEntry {
  readonly pid: number;
  readonly type: string;
  readonly reloads: number;
  readonly uptime: string;
  readonly version: string;
}

export interface ProcTable {
  readonly master: ProcEntry & { readonly failedReloads: number };
  readonly workers: readonly ProcEntry[];
  readonly oldWorkers: readonly ProcEntry[];
}

/** Parses the master CLI's `show proc` (sections "# workers", "# old workers", "# programs"). */
export function parseShowProc(text: string): ProcTable | null {
  let section = 'master';
  let master: ProcTable['master'] | null = null;
  const workers: ProcEntry[] = [];
  const oldWorkers: ProcEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#<PID>') || line.trim() === '') continue;
    if (line.startsWith('#')) {
      section = line.slice(1).trim();
      continue;
    }
    const m = /^(\d+)\s+(\S+)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?\s+(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const entry = { pid: Number(m[1]), type: m[2], reloads: Number(m[3]), uptime: m[5], version: m[6] };
    if (section === 'master' && m[2] === 'master') master = { ...entry, failedReloads: Number(m[4] ?? 0) };
    else if (section === 'workers') workers.push(entry);
    else if (section === 'old workers') oldWorkers.push(entry);
  }
  return master ? { master, workers, oldWorkers } : null;
}

/** The master CLI (-S socket): process supervision and `reload`. */
export class MasterApi {
  constructor(readonly socketPath: string) {}

  async showProc(): Promise<ProcTable> {
    const text = await cliCommand(this.socketPath, 'show proc');
    const table = parseShowProc(text);
    if (!table) throw new RuntimeApiError('show proc', `unexpected answer: ${text.slice(0, 200)}`);
    return table;
  }

  /** The master closes the connection as it re-executes itself; completion is seen in `show proc`. */
  async reload(): Promise<void> {
    await cliCommand(this.socketPath, 'reload');
  }
}
