// Certificate rotation without a lost handshake or connection, through `hitless run` (one process
// and two workers): files replaced by atomic rename (as certbot and cert-manager do) and a config
// applied with PUT /config, while a TLS keep-alive client keeps its connection and the next new
// handshake gets the new certificate; the listening socket is the same one throughout. A bad new
// file (key mismatch, expired) is refused with the reason and the running certificate keeps
// serving.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { HitlessProcess } from './helpers/hitless-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { reservePort } from './helpers/ports.js';
import { TlsClient } from './helpers/tls-client.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

interface Doc {
  services: Array<{ name: string; tls?: { certificates: Array<{ fingerprint256: string }> } }>;
  listeners: Array<{ address: string; socket: string | null }>;
  applies: Array<{ origin: string; result: string; summary: string; error?: { message: string } }>;
  certificateFiles?: { directories: string[]; lastChange: { result: string; error?: string } | null };
}

let ca: TestCa;
let backend: HttpBackend;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  backend = await startHttpBackend('R');
});
after(async () => {
  await backend?.close();
  ca?.close();
});

/** Replaces `target` by renaming a fresh copy of `source` over it: one atomic directory-entry swap. */
function renameInto(source: string, target: string): void {
  const tmp = `${target}.tmp-${process.pid}`;
  copyFileSync(source, tmp);
  renameSync(tmp, target);
}

for (const workers of [0, 2]) {
  describe(`certificate rotation (--workers ${workers})`, { skip }, () => {
    let hitless: HitlessProcess;
    let port: number;
    let liveCert: string, liveKey: string;
    let first: Issued;
    const doc = async () => (await hitless.status()) as unknown as Doc;
    const served = async () => (await doc()).services.find((s) => s.name === 'web')!.tls!.certificates[0].fingerprint256;
    const config = (admin: string, cert: string, key: string) =>
      stringify({ admin: { listen: admin }, services: { web: { mode: 'http', listen: `127.0.0.1:${port}`, endpoints: [backend.address], tls: { certificates: [{ cert, key }] } } } });
    /** The fingerprint a new handshake gets. */
    const handshake = async (): Promise<string> => {
      const c = await TlsClient.connect(port, { servername: 'r.test', ca: ca.caCert });
      const print = c.certificate.fingerprint256;
      await c.close();
      return print;
    };

    before(async () => {
      port = await reservePort();
      first = ca.issue('r.test');
      liveCert = join(ca.dir, `live-${workers}.pem`);
      liveKey = join(ca.dir, `live-${workers}.key`);
      copyFileSync(first.cert, liveCert);
      copyFileSync(first.key, liveKey);
      hitless = await HitlessProcess.start({ config: (admin) => config(admin, liveCert, liveKey), workers, logLevel: 'info' });
    });
    after(() => hitless?.kill());

    it('files renamed into place: applied through the apply queue (fields tls), keep-alive client kept, next handshake gets the new certificate, listener not re-bound', async () => {
      const keepAlive = await TlsClient.connect(port, { servername: 'r.test', ca: ca.caCert });
      const before = keepAlive.certificate.fingerprint256;
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'R');
      const socketBefore = (await doc()).listeners.find((l) => l.address === `127.0.0.1:${port}`)!.socket;
      const renewed = ca.issue('r.test');
      renameInto(renewed.key, liveKey);
      renameInto(renewed.cert, liveCert);
      const after = await waitFor('the renewed certificate in status', async () => {
        const print = await served();
        return print !== before ? print : undefined;
      });
      assert.equal(await handshake(), after, 'a new handshake gets the renewed certificate');
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'R', 'the keep-alive client goes on, on the same TLS connection');
      assert.equal(keepAlive.socket.destroyed, false);
      const d = await doc();
      const applied = d.applies.filter((a) => a.origin === 'certificates');
      assert.equal(applied.at(-1)?.result, 'applied', JSON.stringify(applied));
      assert.match(applied.at(-1)!.summary, /services \+0 -0 ~1/);
      assert.match(hitless.logs(), /"changed":\["web \(tls\)"\]/, 'the apply log shows the certificate change as a diff');
      assert.equal(d.listeners.find((l) => l.address === `127.0.0.1:${port}`)!.socket, socketBefore, 'the same listening socket');
      assert.equal(d.certificateFiles?.lastChange?.result, 'applied');
      await keepAlive.close();
    });

    it('a bad new file (a key of another certificate) is refused with the reason; the running certificate keeps serving; good files then apply', async () => {
      const running = await served();
      const other = ca.issue('r.test');
      renameInto(other.key, liveKey); // the certificate stays the running one: a mismatch
      const refused = await waitFor('the refusal in status', async () => {
        const d = await doc();
        return d.certificateFiles?.lastChange?.result === 'rejected' ? d : undefined;
      });
      assert.match(refused.certificateFiles!.lastChange!.error ?? '', /services\.web\.tls\.certificates\[0\]\.key: the key .* does not match the certificate/);
      assert.equal(refused.applies.at(-1)?.origin, 'certificates');
      assert.equal(refused.applies.at(-1)?.result, 'rejected');
      assert.match(hitless.logs(), /certificate files changed on disk were REFUSED/);
      assert.equal(await served(), running);
      assert.equal(await handshake(), running, 'new handshakes still get the running certificate');
      // The matching certificate arrives: applied.
      renameInto(other.cert, liveCert);
      const now = await waitFor('the new pair served', async () => {
        const print = await served();
        return print !== running ? print : undefined;
      });
      assert.equal(await handshake(), now);
    });

    it('PUT /config with other files while a keep-alive client is connected; a PUT with an expired certificate is refused, nothing changed', async () => {
      const keepAlive = await TlsClient.connect(port, { servername: 'r.test', ca: ca.caCert });
      const next = ca.issue('r.test', { key: 'rsa' });
      const res = await hitless.put(config(hitless.admin, next.cert, next.key));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json<{ result: string }>().result, 'applied');
      const print = await handshake();
      assert.notEqual(print, keepAlive.certificate.fingerprint256);
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'R');
      const expired = ca.issue('r.test', { startDate: '20200101000000Z', endDate: '20200201000000Z' });
      const future = ca.issue('r.test', { startDate: '20990101000000Z', endDate: '20991231000000Z' });
      const chained = ca.issue('r.test', { viaIntermediate: true });
      const [leaf, intermediate] = readFileSync(chained.cert, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
      const swapped = ca.file(`swapped-${workers}.pem`, intermediate + leaf);
      const encrypted = ca.encryptKey(next.key, 'the-passphrase');
      const bad: Array<[string, string, RegExp]> = [
        ['expired', config(hitless.admin, expired.cert, expired.key), /certificates\[0\]\.cert: the certificate in .* expired on 2020-02-01/],
        ['not yet valid', config(hitless.admin, future.cert, future.key), /certificates\[0\]\.cert: the certificate in .* is not valid yet/],
        ['key mismatch', config(hitless.admin, next.cert, first.key), /certificates\[0\]\.key: the key .* does not match/],
        ['chain in the wrong order', config(hitless.admin, swapped, chained.key), /certificates\[0\]\.cert: the chain in .* is in the wrong order/],
        ['encrypted key, no passphrase', config(hitless.admin, next.cert, encrypted), /certificates\[0\]\.key: the key .* is encrypted/],
        ['unreadable file', config(hitless.admin, join(ca.dir, 'missing.pem'), next.key), /certificates\[0\]\.cert: cannot read .*missing\.pem: no such file/],
      ];
      for (const [what, text, reason] of bad) {
        const res = await hitless.put(text);
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.match(res.text, reason, what);
        assert.equal(await handshake(), print, `${what}: the running certificate still serves`);
      }
      assert.equal((await keepAlive.request('/', 'r.test')).body, 'R');
      await keepAlive.close();
    });
  });
}
