// OCSP stapling from a response file (ocsp_file), through `hitless run --workers 1`, over real TLS
// on loopback: responses made by the real `openssl ocsp` responder from the test CA's index; a
// node:tls client with requestOCSP and `openssl s_client -status` see the stapled response; a
// client that does not ask gets none; a renewed file (atomic rename) is stapled at the next
// handshake; a response for another certificate or a revoked one is refused with nothing changed;
// status and metrics say what is stapled and until when; the HAProxy plane refuses ocsp_file.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { HitlessProcess } from './helpers/hitless-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { reservePort } from './helpers/ports.js';
import { configProblems } from './helpers/config-problems.js';
import { hasOpenssl, TestCa, type Issued } from './helpers/tls-certs.js';
import { waitFor } from './helpers/wait.js';

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

type CertStatus = { name: string; ocsp: { file: string; nextUpdate: string | null; stapling: boolean } | null };
type Status = { services: Array<{ name: string; tls?: { stapled?: number; certificates: CertStatus[] } }>; certificateFiles?: { lastChange: { result: string; error?: string } | null } };

/** What a client asking for OCSP (status_request) got stapled: the DER, or null. */
function stapledTo(port: number, requestOCSP = true): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    let response: Buffer | null = null;
    // requestOCSP is a documented tls.connect option its types leave out.
    const socket = connect({ host: '127.0.0.1', port, servername: 'ocsp.test', rejectUnauthorized: false, requestOCSP } as ConnectionOptions);
    socket.once('OCSPResponse', (r: Buffer) => (response = r));
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(response);
    });
    socket.once('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no handshake in 10 s')));
  });
}

describe('OCSP stapling (ocsp_file)', { skip }, () => {
  let ca: TestCa;
  let leaf: Issued, other: Issued, revoked: Issued;
  let backend: HttpBackend;
  let hitless: HitlessProcess;
  let port = 0;
  let ocspFile = '';
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  /** A response for `cert` (issued by the intermediate), signed by the intermediate, current for `days`. */
  const respond = (cert: Issued, days = 1): Buffer => {
    const n = Math.random().toString(36).slice(2);
    openssl(['ocsp', '-issuer', 'int.crt', '-cert', cert.cert, '-no_nonce', '-reqout', `q-${n}.der`]);
    openssl(['ocsp', '-index', 'index.txt', '-rsigner', 'int.crt', '-rkey', 'int.key', '-CA', 'int.crt', '-reqin', `q-${n}.der`, '-respout', `r-${n}.der`, '-ndays', String(days)]);
    return readFileSync(join(ca.dir, `r-${n}.der`));
  };
  const renameInto = (bytes: Buffer, target: string) => {
    const tmp = `${target}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, target);
  };
  const config = (admin: string, file = ocspFile, cert = leaf) =>
    stringify({ admin: { listen: admin }, services: { web: { mode: 'http', listen: `127.0.0.1:${port}`, endpoints: [backend.address], tls: { certificates: [{ cert: cert.cert, key: cert.key, ocsp_file: file }] } } } });
  const certStatus = async () => ((await hitless.status()) as unknown as Status).services.find((s) => s.name === 'web')!.tls!;

  before(async () => {
    ca = new TestCa();
    leaf = ca.issue('ocsp.test', { viaIntermediate: true });
    other = ca.issue('other.test', { viaIntermediate: true });
    revoked = ca.issue('revoked.test', { viaIntermediate: true });
    openssl(['ca', '-config', 'ca.cnf', '-cert', 'int.crt', '-keyfile', 'int.key', '-revoke', revoked.cert]);
    ocspFile = join(ca.dir, 'ocsp.test.ocsp');
    writeFileSync(ocspFile, respond(leaf));
    backend = await startHttpBackend('O');
    port = await reservePort();
    hitless = await HitlessProcess.start({ logLevel: 'warn', workers: 1, config: (admin) => config(admin) });
  });

  after(async () => {
    await hitless?.kill();
    await backend?.close();
    ca?.close();
  });

  it('staples the response to a client that asks (node:tls requestOCSP, openssl s_client -status), to no other', async () => {
    assert.deepEqual(await stapledTo(port), readFileSync(ocspFile));
    assert.equal(await stapledTo(port, false), null);
    const s = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'ocsp.test', '-status'], { input: '', timeout: 10_000, encoding: 'utf8' });
    assert.match(s.stdout, /OCSP Response Status: successful/);
    assert.match(s.stdout, /Cert Status: good/);
    const tls = await certStatus();
    assert.equal(tls.certificates[0].ocsp!.stapling, true);
    assert.ok(Date.parse(tls.certificates[0].ocsp!.nextUpdate!) > Date.now() + 23 * 3_600_000);
    assert.ok((tls.stapled ?? 0) >= 2, `stapled ${tls.stapled}`);
    const metrics = (await hitless.request('GET', '/metrics')).text;
    assert.match(metrics, /hitless_tls_ocsp_stapling\{service="web",name="ocsp\.test"\} 1/);
    assert.match(metrics, /hitless_tls_ocsp_next_update_seconds\{service="web",name="ocsp\.test"\} \d+/);
  });

  it('a renewed response renamed into place is stapled at the next handshake', async () => {
    const before = (await certStatus()).certificates[0].ocsp!.nextUpdate!;
    const renewed = respond(leaf, 3);
    renameInto(renewed, ocspFile);
    await waitFor('the renewed response in status', async () => ((await certStatus()).certificates[0].ocsp!.nextUpdate !== before ? true : undefined));
    assert.deepEqual(await stapledTo(port), renewed);
  });

  it('a renewed file holding a response for another certificate is refused, and the last good one kept', async () => {
    const good = readFileSync(ocspFile);
    renameInto(respond(other), ocspFile);
    const change = await waitFor('the watcher to refuse it', async () => {
      const last = ((await hitless.status()) as unknown as Status).certificateFiles?.lastChange;
      return last?.result === 'rejected' ? last : undefined;
    });
    assert.match(change.error ?? '', /ocsp_file.*cannot be stapled: it holds no answer for this certificate/);
    assert.deepEqual(await stapledTo(port), good, 'the running response is untouched');
    renameInto(good, ocspFile);
  });

  it('a revoked certificate\'s response is refused at PUT /config, naming the file and the reason', async () => {
    const file = join(ca.dir, 'revoked.ocsp');
    writeFileSync(file, respond(revoked));
    const res = await hitless.put(config(hitless.admin, file, revoked));
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /revoked\.ocsp cannot be stapled: the certificate is REVOKED/);
    assert.deepEqual(await stapledTo(port), readFileSync(ocspFile), 'nothing changed');
  });

  it('the HAProxy data plane refuses ocsp_file (not available there yet)', () => {
    const text = `dataplane: { driver: haproxy }\nservices:\n  web:\n    mode: http\n    listen: 127.0.0.1:7443\n    endpoints: [127.0.0.1:9001]\n    tls:\n      certificates:\n        - { cert: "${leaf.cert}", key: "${leaf.key}", ocsp_file: "${ocspFile}" }\n`;
    const problems = configProblems(text, 'h.yaml');
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /services\.web\.tls\.certificates\[0\]\.ocsp_file: OCSP stapling \(ocsp_file\) is not available on the HAProxy data plane yet/);
  });
});
