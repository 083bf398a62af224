// The running config's hash names the certificates it serves, not only its text. A certificate
// file replaced on disk leaves the text (and so the base hash, GET /config's ETag and the "file
// differs" check, which compare texts) unchanged; without this, the controller would take the
// re-read config for an identical one and apply nothing. Like discovered endpoints, the files'
// content enters the hash of the assembled (running) snapshot only.
import { createHash } from 'node:crypto';
import type { Config, ConfigSnapshot } from '../config/model.js';

/** The TLS digests of a base config, computed once per config object (a discovery apply keeps the base). */
const digests = new WeakMap<Config, string | null>();

export function tlsDigestOf(config: Config): string | null {
  let digest = digests.get(config);
  if (digest === undefined) {
    const hash = createHash('sha256');
    let any = false;
    for (const [name, service] of config.services) {
      if (service.tls) {
        any = true;
        hash.update(`${name}\0${service.tls.digest}\n`);
      }
      // TLS to the endpoints: CA and client certificate files replaced on disk are a change too.
      for (const [cluster, c] of service.clusters) {
        if (!c.upstreamTls) continue;
        any = true;
        hash.update(`${name}\0${cluster}\0upstream\0${c.upstreamTls.digest}\n`);
      }
    }
    digest = any ? hash.digest('hex') : null;
    digests.set(config, digest);
  }
  return digest;
}

/** `assembled` (made from `base`) with the certificates' identity in its hash; itself without TLS. */
export function withTlsIdentity(assembled: ConfigSnapshot, base: ConfigSnapshot): ConfigSnapshot {
  const digest = tlsDigestOf(base.config);
  if (digest === null) return assembled;
  const hash = createHash('sha256').update(`${assembled.hash}\ntls\n${digest}`).digest('hex');
  return Object.freeze({ ...assembled, hash });
}
