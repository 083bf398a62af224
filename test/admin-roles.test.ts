// Two roles on the admin API: admin.token may do everything, admin.read_token only what a metrics
// scraper or dashboard viewer needs (GET /status, /metrics, /dashboard/data). The read token gets
// 403 with a clear JSON error on anything else, GET /config included (its text holds the tokens).
// Generated Authorization headers and paths (seeded, reproducible) never grant more than the
// token they carry. Real `hitless run`, real sockets, and the real CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, ROOT } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { httpRequest, spawnHitless, startBackend, waitReady, type Backend, type RunningHitless } from './observability-helpers.js';

const ADMIN = 'admin-token-Xy7-0123456789abcdef';
const READ = 'read-token-Qw3-fedcba9876543210';
const READ_ROUTES = ['/status', '/metrics', '/dashboard/data', '/overrides'];

/** xorshift32: a seeded generator, so a failing case can be replayed from the seed printed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** The role a header should grant, by the rule as documented: exactly `Bearer <token>`, scheme in any case. */
function expectedRole(header: string | undefined): 'admin' | 'read' | null {
  if (header === undefined) return null;
  const m = /^bearer (.*)$/is.exec(header.trim());
  if (!m || header.trimStart() !== header) return null;
  if (m[1] === ADMIN) return 'admin';
  if (m[1] === READ) return 'read';
  return null;
}

/** Headers near the real ones (mutations of both tokens) and far from them (random bytes). */
function generateHeaders(next: () => number, n: number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  const printable = () => String.fromCharCode(0x21 + Math.floor(next() * 94));
  const mutate = (t: string): string => {
    const i = Math.floor(next() * t.length);
    switch (Math.floor(next() * 9)) {
      case 0: return t.slice(0, i); // prefix
      case 1: return t + printable(); // longer
      case 2: return t.slice(0, i) + printable() + t.slice(i + 1); // one character changed (maybe to itself)
      case 3: return t.toUpperCase();
      case 4: return `${t} `.repeat(1 + Math.floor(next() * 2)).trimEnd(); // repeated
      case 5: return `${ADMIN.slice(0, i)}${READ.slice(i)}`; // halves of both
      case 6: return `${t},${pick([ADMIN, READ])}`;
      case 7: return t.slice(1);
      default: return t;
    }
  };
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const scheme = pick(['Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Basic ', 'Token ', '', 'Bearer:', 'Bearer\t']);
    const token = next() < 0.75 ? mutate(pick([ADMIN, READ])) : Array.from({ length: Math.floor(next() * 48) }, printable).join('');
    out.push(`${scheme}${token}`);
  }
  return out;
}

describe('admin roles: admin.token and admin.read_token', () => {
  let h: RunningHitless | undefined;
  let backend: Backend;
  let admin = 0;
  let config = '';
  const target = () => ({ host: '127.0.0.1', port: admin });
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  before(async () => {
    backend = await startBackend();
    admin = await reservePort();
    const web = await reservePort();
    config = `admin: { listen: "127.0.0.1:${admin}", token: "${ADMIN}", read_token: "${READ}" }
services:
  web: { mode: http, listen: "127.0.0.1:${web}", endpoints: ["${backend.address}"] }
`;
    h = spawnHitless(config, ['--workers', '1']);
    await waitReady(h, target(), READ);
  });

  after(async () => {
    await h?.kill();
    await backend?.close();
  });

  it('lets the read token read status, metrics and dashboard data', async () => {
    for (const path of READ_ROUTES) assert.equal((await httpRequest(target(), 'GET', path, undefined, as(READ))).status, 200, path);
  });

  it('answers the read token 403 with a clear JSON error on every change, and on GET /config (which holds the tokens)', async () => {
    const hash = JSON.parse((await httpRequest(target(), 'GET', '/status', undefined, as(READ))).text).config.hash as string;
    const changed = config.replace('mode: http,', 'mode: http, retries: 1,');
    const attempts: Array<[string, string, string?]> = [
      ['PUT', '/config', changed],
      ['POST', '/config/validate', changed],
      ['GET', '/config'],
      ['POST', '/upgrade'],
      ['POST', '/upgrade?supervisor=1'],
      ['DELETE', '/status'],
      ['GET', '/no-such-route'],
    ];
    for (const [method, path, body] of attempts) {
      const res = await httpRequest(target(), method, path, body, { ...as(READ), 'content-type': 'application/yaml' });
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      const error = JSON.parse(res.text).error as { code: string; message: string };
      assert.equal(error.code, 'HITLESS_ERR_FORBIDDEN');
      assert.match(error.message, /read-only token \(admin\.read_token\) may only GET \/status, GET \/metrics, GET \/dashboard\/data, GET \/overrides; .* needs admin\.token/);
      assert.ok(!res.text.includes(ADMIN), 'the answer never shows the admin token');
    }
    const after = JSON.parse((await httpRequest(target(), 'GET', '/status', undefined, as(READ))).text).config.hash as string;
    assert.equal(after, hash, 'nothing the read token sent was applied');
    // The admin token may do it.
    assert.equal((await httpRequest(target(), 'POST', '/config/validate', changed, as(ADMIN))).status, 200);
    assert.equal((await httpRequest(target(), 'GET', '/config', undefined, as(ADMIN))).status, 200);
  });

  it('never grants more than the header carries, over generated Authorization headers and paths', async () => {
    const seed = Number(process.env.ROLES_SEED ?? Date.now() % 0x7fffffff);
    const next = rng(seed);
    // A body that the admin role would get 400 for (invalid config): a 400 or 200 from anyone else is an escalation.
    const invalid = 'services: { broken: { listen: "not-an-address" } }\n';
    const headers = [...generateHeaders(next, 240), `Bearer ${ADMIN}`, `Bearer ${READ}`, `bearer ${READ}`, `Bearer ${READ}x`, `Bearer ${ADMIN.slice(0, -1)}`];
    const paths = ['/config', '/config?x=1', '/status/../config', '/./config', '/config#frag', '/%63onfig', '/Config', '//config'];
    const counts = { admin: 0, read: 0, none: 0 };
    for (const [i, header] of headers.entries()) {
      const expected = expectedRole(header);
      counts[expected ?? 'none']++;
      const path = paths[i % paths.length];
      const put = await httpRequest(target(), 'PUT', path, invalid, { authorization: header, 'content-type': 'application/yaml' });
      const status = await httpRequest(target(), 'GET', '/status', undefined, { authorization: header });
      const context = `seed ${seed}, header ${JSON.stringify(header)}, PUT ${path}`;
      if (expected === null) {
        assert.equal(put.status, 401, context);
        assert.equal(status.status, 401, context);
      } else if (expected === 'read') {
        assert.equal(put.status, 403, context);
        assert.equal(status.status, 200, context);
      } else {
        // Normalised to /config (or not found): the admin role reaches the config check.
        assert.ok([400, 404, 405].includes(put.status), `${context}: ${put.status}`);
        assert.equal(status.status, 200, context);
      }
    }
    assert.ok(counts.admin >= 1 && counts.read >= 2 && counts.none >= 100, JSON.stringify(counts));
  });

  it('keeps the first of two Authorization headers: a read token followed by a forged admin one stays read', async () => {
    const raw = (first: string, second: string) =>
      new Promise<number>((resolve, reject) => {
        const socket = connect(admin, '127.0.0.1');
        let got = '';
        socket.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
          if (m) {
            socket.destroy();
            resolve(Number(m[1]));
          }
        });
        socket.on('error', reject);
        socket.write(`POST /config/validate HTTP/1.1\r\nhost: x\r\nauthorization: ${first}\r\nauthorization: ${second}\r\ncontent-length: 0\r\n\r\n`);
      });
    assert.equal(await raw(`Bearer ${READ}`, `Bearer ${ADMIN}`), 403);
    assert.equal(await raw('Bearer nothing-at-all-0000000', `Bearer ${ADMIN}`), 401);
  });

  it('lets `hitless status` use the read token, and `hitless apply` with it fails with the reason', () => {
    const status = spawnSync(process.execPath, [CLI, 'status', '--admin', `127.0.0.1:${admin}`, '--token', READ], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /SERVICES/);
    const file = join(h!.dir, 'other.yaml');
    writeFileSync(file, config.replace('mode: http,', 'mode: http, retries: 2,'));
    const apply = spawnSync(process.execPath, [CLI, 'apply', file, '--admin', `127.0.0.1:${admin}`, '--token', READ], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(apply.status, 1);
    assert.match(apply.stderr, /read-only token .* needs admin\.token \[HITLESS_ERR_FORBIDDEN\]/);
  });
});

describe('admin.read_token in the config', () => {
  it('is refused without admin.token, and when equal to it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'hitless-roles-'));
    const validate = (text: string) => {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, text);
      return spawnSync(process.execPath, [CLI, 'validate', file], { cwd: ROOT, encoding: 'utf8' });
    };
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const alone = validate(`admin: { listen: "127.0.0.1:1", read_token: "${READ}" }\nservices: {}\n`);
    assert.equal(alone.status, 1);
    assert.match(alone.stderr, /admin\.read_token: admin\.read_token needs admin\.token/);
    const same = validate(`admin: { listen: "127.0.0.1:1", token: "${ADMIN}", read_token: "${ADMIN}" }\nservices: {}\n`);
    assert.equal(same.status, 1);
    assert.match(same.stderr, /admin\.read_token equals admin\.token/);
    // A rejected token is not echoed: problems reach logs, the audit log and GET /status (which the read token sees).
    const short = validate(`admin: { listen: "127.0.0.1:1", token: "${ADMIN}", read_token: "tooShortSecret" }\nservices: {}\n`);
    assert.equal(short.status, 1);
    assert.match(short.stderr, /admin\.read_token: expected a string with length >= 16, found a string of 14 characters \(not shown: a secret\)/);
    assert.ok(!short.stderr.includes('tooShortSecret'));
  });
});
