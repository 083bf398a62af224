// Certificate changes through HAProxy's runtime API, with no reload (render-tls.ts decides which
// changes qualify). A renewed certificate: `set ssl cert NAME <<` with the new PEM (chain and
// key) opens a transaction, `commit ssl cert NAME` swaps it into every bind line serving it.
// A removed one: `del ssl crt-list LIST NAME`, then `del ssl cert NAME`. An added one: `new ssl
// cert NAME`, set + commit, then `add ssl crt-list LIST <<` with its line. Established TLS
// connections keep the session they have; the next handshake sees the new list. HAProxy 2.6 holds
// one certificate transaction at a time, so everything goes one after another; a command HAProxy
// refuses throws (after `abort ssl cert` for an open transaction) and the caller converges with
// a reload. prepare already checked the new files with `haproxy -c`.
import type { TlsChange } from './render-tls.js';
import { RuntimeApiError, type WorkerApi } from './runtime-api.js';

/** The `set ssl cert` command with its payload: the PEM lines, then the empty line that ends it. */
export function setCertCommand(path: string, pem: string): string {
  return `set ssl cert ${path} <<\n${pem.endsWith('\n') ? pem : `${pem}\n`}`;
}

export class CertificateChanger {
  /** Commands sent (status: runtimeCommands). */
  commands = 0;

  constructor(private readonly api: WorkerApi) {}

  /** Applies `change`: removals, additions, then renewals. Throws at the first refusal, with the rest not sent. */
  async apply(change: TlsChange): Promise<void> {
    for (const r of change.removed) {
      await this.run(`del ssl crt-list ${r.listPath} ${r.path}`, (a) => a.includes('deleted in crtlist'));
      await this.run(`del ssl cert ${r.path}`, (a) => a.includes('deleted!'));
    }
    for (const a of change.added) {
      await this.run(`new ssl cert ${a.path}`, (answer) => answer.includes('New empty certificate store'));
      await this.replace(a.path, a.pem);
      await this.run(`add ssl crt-list ${a.listPath} <<\n${a.line}\n`, (answer) => answer.includes('Success!'));
    }
    for (const u of change.updates) await this.replace(u.path, u.pem);
  }

  private async replace(path: string, pem: string): Promise<void> {
    await this.run(setCertCommand(path, pem), (a) => a.includes('Transaction created') || a.includes('Transaction updated'));
    try {
      await this.run(`commit ssl cert ${path}`, (a) => a.includes('Success!'));
    } catch (err) {
      // A failed commit already dropped the transaction; an unanswered one may not have.
      await this.api.raw(`abort ssl cert ${path}`).catch(() => undefined);
      throw err;
    }
  }

  /** One command; errors name it by its first line (a payload holds the private key). */
  private async run(command: string, ok: (answer: string) => boolean): Promise<void> {
    this.commands++;
    const answer = await this.api.raw(command);
    if (!ok(answer)) throw new RuntimeApiError(command.split('\n', 1)[0], answer.trim() || 'empty answer');
  }
}
