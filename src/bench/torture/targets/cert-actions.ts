// Certificate rotation as each proxy's users do it: new files in place (rename-replace, as certbot
// and cert-manager write them), then what makes the proxy read them — nothing for hitless (it
// watches the files), a reload signal for nginx and HAProxy, or HAProxy's runtime API
// (`set ssl cert` + `commit ssl cert` on its stats socket, no reload at all).
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { ActionUnsupported, type Action } from '../actions.js';
import { CertRotation, liveFiles, type LiveCertFiles, type TortureTls } from '../tls-material.js';
import type { ActionChoice } from './target.js';

/** The live files in `dir` with certificate A in place, and the rotation that alternates them. */
export async function startRotation(tls: TortureTls, dir: string): Promise<CertRotation> {
  const rotation = new CertRotation(tls, liveFiles(dir));
  await rotation.installFirst();
  return rotation;
}

/** Rename-replace the live files with the other certificate, then `reload` (if any). */
export function fileRotationAction(rotation: CertRotation, how: string, reload?: () => Promise<void>): Action {
  return {
    name: `rotate certificate: rename-replace the files${how ? `, ${how}` : ''}`,
    fire: async () => {
      await rotation.next();
      await reload?.();
    },
  };
}

const RUNTIME_TIMEOUT_MS = 5000;

/** One command on HAProxy's stats socket (non-interactive: it answers and closes). */
export function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let answer = '';
    const timer = setTimeout(() => socket.destroy(new Error(`HAProxy runtime API: no answer within ${RUNTIME_TIMEOUT_MS} ms`)), RUNTIME_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer = (answer + chunk).slice(-4000)));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.end(command);
  });
}

/**
 * HAProxy's runtime API: `set ssl cert <crt> <<` with the next certificate's PEM (cert + key),
 * then `commit ssl cert <crt>`. `crt` is the path as HAProxy's config names it.
 */
export function haproxyRuntimeCertAction(tls: TortureTls, statsSocket: string, crt: string): Action {
  let current = 0;
  let pems: string[] | undefined;
  return {
    name: 'rotate certificate: HAProxy runtime API (set ssl cert + commit ssl cert)',
    fire: async () => {
      pems ??= await Promise.all(tls.certs.map((c) => readFile(c.combined, 'utf8')));
      current = (current + 1) % pems.length;
      // The payload ends at the first empty line: PEM has none, and a trailing one closes it.
      const set = await haproxyCommand(statsSocket, `set ssl cert ${crt} <<\n${pems[current].trim()}\n\n`);
      if (!/Transaction (created|updated)/i.test(set)) {
        if (/Unknown command/i.test(set)) throw new ActionUnsupported(`this HAProxy has no "set ssl cert": ${set.trim()}`);
        throw new Error(`set ssl cert: ${set.trim().slice(0, 200)}`);
      }
      const commit = await haproxyCommand(statsSocket, `commit ssl cert ${crt}\n`);
      if (!/Success!/.test(commit)) throw new Error(`commit ssl cert: ${commit.trim().slice(0, 200)}`);
    },
  };
}

/** The TLS frontend every HAProxy target adds when the run has TLS: same backends, `crt` the live pem. */
export function haproxyTlsFrontend(port: number, live: LiveCertFiles): string {
  return `
frontend webtls
  bind 127.0.0.1:${port} ssl crt ${live.combined} alpn http/1.1
  default_backend app
`;
}

/** Is this action a certificate rotation? Those need the run's TLS material. */
export function isCertAction(action: ActionChoice): boolean {
  return action === 'cert' || action === 'cert-put';
}

export function liveDir(tempDir: string): string {
  return join(tempDir, 'tls');
}
