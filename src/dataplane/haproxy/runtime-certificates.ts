// Certificate rotation through HAProxy's runtime API, with no reload: for each renewed
// certificate, `set ssl cert NAME <<` with the new PEM (chain and key) opens a transaction and
// `commit ssl cert NAME` swaps it into every bind line that serves it. Established TLS
// connections keep the session they have; the next handshake gets the new certificate. HAProxy
// 2.6 holds one certificate transaction at a time, so they go one after another; one HAProxy
// refuses is aborted (`abort ssl cert`) and the caller converges with a reload, whose
// `haproxy -c` reports the reason. (prepare already checked the new files with `haproxy -c`.)
import type { CertificateUpdate } from './render-tls.js';
import { RuntimeApiError, type WorkerApi } from './runtime-api.js';

const OK_SET = (a: string) => a.includes('Transaction created') || a.includes('Transaction updated');
const OK_COMMIT = (a: string) => a.includes('Success!');

/** The `set ssl cert` command with its payload: the PEM lines, then the empty line that ends it. */
export function setCertCommand(path: string, pem: string): string {
  return `set ssl cert ${path} <<\n${pem.endsWith('\n') ? pem : `${pem}\n`}`;
}

/** Applies every update; returns the number of commands sent. Throws at the first refusal, with the rest not sent. */
export async function rotateCertificates(api: WorkerApi, updates: readonly CertificateUpdate[]): Promise<number> {
  let commands = 0;
  for (const u of updates) {
    commands++;
    // Errors name the command without its payload: the payload holds the private key.
    const set = await api.raw(setCertCommand(u.path, u.pem));
    if (!OK_SET(set)) throw new RuntimeApiError(`set ssl cert ${u.path}`, set.trim() || 'empty answer');
    commands++;
    const answer = await api.raw(`commit ssl cert ${u.path}`);
    if (OK_COMMIT(answer)) continue;
    // A failed commit already dropped the transaction; an unanswered one may not have.
    await api.raw(`abort ssl cert ${u.path}`).catch(() => undefined);
    throw new RuntimeApiError(`commit ssl cert ${u.path}`, answer.trim() || 'empty answer');
  }
  return commands;
}
