// upstream_tls on the HAProxy data plane: the `server` keywords of a cluster's TLS settings, and
// the files they name. HAProxy wants the client certificate and its key in one PEM file, so the
// chain and the (already decrypted) key the config parser read are written into hitless's
// private state directory, mode 0600, named by the settings' digest: a rotated certificate is a
// new file name, hence a changed backend, hence a reload that loads it (HAProxy reads server
// certificate files at start only). The CA file is copied the same way, so what HAProxy verifies
// with is what hitless checked.
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { ClusterConfig, ServiceConfig } from '../../config/model.js';
import type { UpstreamTlsStatus } from '../tls-status.js';
import type { UpstreamTlsConfig } from '../../config/tls-model.js';

/** The files a cluster's TLS needs (path → content), for the driver to write before HAProxy reads them. */
export function upstreamTlsFiles(cluster: ClusterConfig, stateDir: string): Map<string, string> {
  const files = new Map<string, string>();
  const tls = cluster.upstreamTls;
  if (!tls) return files;
  if (tls.client) files.set(clientPemPath(tls, stateDir), tls.client.chainPem + tls.client.keyPem);
  if (tls.caPem !== null && !tls.insecureSkipVerify) files.set(caPath(tls, stateDir), tls.caPem);
  return files;
}

/** Files of this module in the state dir have this prefix (stale ones are removed by it). */
export const UPSTREAM_TLS_FILE_PREFIX = 'upstream-tls-';

function clientPemPath(tls: UpstreamTlsConfig, stateDir: string): string {
  return join(stateDir, `${UPSTREAM_TLS_FILE_PREFIX}${tls.digest.slice(0, 24)}.client.pem`);
}

function caPath(tls: UpstreamTlsConfig, stateDir: string): string {
  return join(stateDir, `${UPSTREAM_TLS_FILE_PREFIX}${tls.digest.slice(0, 24)}.ca.pem`);
}

/** Keywords every server line of the cluster carries: ssl, verification, client certificate, protocol. */
export function backendTlsOptions(cluster: ClusterConfig, stateDir: string): string {
  const tls = cluster.upstreamTls;
  if (!tls) return '';
  const options = ['ssl'];
  if (tls.insecureSkipVerify) options.push('verify none');
  else options.push(`verify required ca-file ${tls.caPem !== null ? caPath(tls, stateDir) : '@system-ca'}`);
  if (tls.client) options.push(`crt ${clientPemPath(tls, stateDir)}`);
  options.push(`ssl-min-ver ${tls.minVersion}`);
  if (tls.ciphers !== null) {
    // Node takes TLS 1.2 suites and TLS 1.3 TLS_* names in one list; HAProxy in two keywords.
    const names = tls.ciphers.split(':').filter((n) => n !== '');
    const v13 = names.filter((n) => n.startsWith('TLS_'));
    const v12 = names.filter((n) => !n.startsWith('TLS_'));
    if (v12.length > 0) options.push(`ciphers ${v12.join(':')}`);
    if (v13.length > 0) options.push(`ciphersuites ${v13.join(':')}`);
  }
  if (tls.alpn.length > 0) options.push(`alpn ${tls.alpn.join(',')}`);
  if (tls.serverName !== null) options.push(...nameOptions(tls.serverName));
  return options.join(' ');
}

/** Keywords of one server: SNI and the name verified when they come from its host (no server_name). */
export function serverTlsOptions(cluster: ClusterConfig, host: string): string {
  const tls = cluster.upstreamTls;
  if (!tls || tls.serverName !== null) return '';
  return nameOptions(host).join(' ');
}

/**
 * SNI (for names only, as RFC 6066 wants) and the name HAProxy checks. HAProxy compares
 * verifyhost with the certificate's DNS names and CN only, never an IP SAN: an IP endpoint
 * without server_name fails verification closed unless its certificate names the IP as CN.
 */
function nameOptions(name: string): string[] {
  const options: string[] = [];
  if (isIP(name) === 0) options.push(`sni str(${name})`, `check-sni ${name}`);
  options.push(`verifyhost ${name}`);
  return options;
}

/**
 * Writes the files `next` names that are not there yet (content-addressed: an existing file has
 * the right bytes), mode 0600, and removes this module's files that neither `next` nor the
 * running config (`running`) names. The state dir must exist.
 */
export async function writeUpstreamTlsFiles(stateDir: string, next: ReadonlyMap<string, string>, running: ReadonlyMap<string, string> | undefined): Promise<void> {
  for (const [path, content] of next) {
    if (await exists(path)) continue;
    const tmp = `${path}.tmp`;
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  }
  for (const name of await readdir(stateDir)) {
    if (!name.startsWith(UPSTREAM_TLS_FILE_PREFIX)) continue;
    const path = join(stateDir, name);
    if (!next.has(path) && !running?.has(path)) await rm(path, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

/** Status of a service's upstream TLS on this plane: which clusters are not verified (HAProxy's stats count no handshakes per backend). */
export function upstreamTlsStatus(service: ServiceConfig): { upstreamTls?: UpstreamTlsStatus } {
  const clusters = [...service.clusters].filter(([, c]) => c.upstreamTls);
  if (clusters.length === 0) return {};
  return { upstreamTls: { insecureSkipVerify: clusters.filter(([, c]) => c.upstreamTls!.insecureSkipVerify).map(([name]) => name) } };
}
