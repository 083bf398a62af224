// What a production user gets (issue 15, packaging): `npm ci --omit=dev` in a clone succeeds (its
// `prepare` used to run tsc, a dev dependency, and fail), and the tarball `npm pack` makes
// installs into an empty folder with the production dependencies only (no vega, vega-lite, resvg
// or typescript), runs `hitless --version` and the demo, and tells how to get the report
// libraries when --report needs them.
//
// Offline, from the npm cache: `npm install ./hitless.tgz` would need the registry's metadata of
// every dependency, which the cache does not hold (npm ci, which filled it, reads versions from
// the lockfile and fetches tarballs only). So the empty folder gets a lockfile made from the
// repository's: the tarball plus the locked production tree, the versions CI tests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, assertBuilt } from './helpers/paths.js';

const NPM_TIMEOUT_MS = 180_000;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string>; peerDependencies: Record<string, string> };
const REPORT_LIBRARIES = Object.keys(pkg.peerDependencies);

function npm(args: readonly string[], cwd: string) {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=warn'], { cwd, encoding: 'utf8', timeout: NPM_TIMEOUT_MS, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

function explainNpm(what: string, r: ReturnType<typeof npm>): string {
  const notCached = /ENOTCACHED/.test(r.stderr) ? '\n(the npm cache lacks a package of package-lock.json: run `npm ci` once with the registry reachable)' : '';
  return `${what} exited ${r.code}${r.error ? ` (${r.error.message})` : ''}:\n${r.stderr.slice(-3000)}${notCached}`;
}

type LockEntry = { dev?: boolean; [key: string]: unknown };

describe('a production install', () => {
  let dir: string;
  before(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'hitless-package-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('npm ci --omit=dev in a clone exits 0, installs no dev or report library, and says how to get dist/', () => {
    const clone = join(dir, 'clone');
    mkdirSync(clone);
    // What `prepare` and npm ci read: the manifest, the lockfile and the scripts; no dist/ yet.
    for (const file of ['package.json', 'package-lock.json', 'scripts']) cpSync(join(ROOT, file), join(clone, file), { recursive: true });
    const r = npm(['ci', '--omit=dev', '--offline'], clone);
    assert.equal(r.code, 0, explainNpm('npm ci --omit=dev', r));
    assert.match(r.stderr, /typescript is not installed \(npm ci --omit=dev\), so dist\/ was not built/);
    assert.match(r.stderr, /npm ci && npm run build && npm prune --omit=dev/);
    for (const name of [...REPORT_LIBRARIES, 'typescript', 'tsx']) assert.ok(!existsSync(join(clone, 'node_modules', name)), `${name} was installed`);
    for (const name of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(clone, 'node_modules', name)), `${name} is missing`);
  });

  describe('from the npm pack tarball, in an empty folder', () => {
    let app: string;
    let hitless: string;

    before(() => {
      const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
      assert.equal(packed.code, 0, explainNpm('npm pack', packed));
      const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const paths = files.map((f) => f.path);
      for (const required of ['dist/cli/main.js', 'examples/demo.yaml', 'src/admin/dashboard/index.html', 'LICENSE', 'docs/hitless.service', 'docs/operations.md']) assert.ok(paths.includes(required), `the tarball lacks ${required}`);
      assert.deepEqual(paths.filter((p) => p.startsWith('test/') || p.endsWith('.ts') && !p.endsWith('.d.ts')), [], 'tests or TypeScript sources in the tarball');

      app = join(dir, 'app');
      mkdirSync(app);
      cpSync(join(dir, filename), join(app, filename));
      const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
      const root = lock.packages[''];
      const packages: Record<string, unknown> = {
        '': { name: 'app', dependencies: { [pkg.name]: `file:${filename}` } },
        [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: `file:${filename}`, license: root.license, dependencies: root.dependencies, peerDependencies: root.peerDependencies, peerDependenciesMeta: root.peerDependenciesMeta, bin: root.bin, engines: root.engines },
      };
      for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, dependencies: { [pkg.name]: `file:${filename}` } }, null, 2));
      writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
      const installed = npm(['ci', '--offline'], app);
      assert.equal(installed.code, 0, explainNpm('npm ci of the tarball', installed));
      hitless = join(app, 'node_modules', '.bin', 'hitless');
    });

    it('has the production dependencies only, and hitless --version runs', () => {
      for (const name of [...REPORT_LIBRARIES, 'typescript', 'tsx']) assert.ok(!existsSync(join(app, 'node_modules', name)), `${name} was installed`);
      const r = spawnSync(hitless, ['--version'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), pkg.version);
    });

    it('bench torture --report says how to install the chart libraries, before it runs anything', () => {
      const report = join(dir, 'report');
      const r = spawnSync(hitless, ['bench', 'torture', '--http', '127.0.0.1:9', '--duration', '1', '--report', report], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1, r.stderr);
      const install = /npm install (.*) \(add -g/.exec(r.stderr)?.[1].split(' ');
      assert.ok(install, `no install command in:\n${r.stderr}`);
      assert.deepEqual(install.sort(), REPORT_LIBRARIES.map((n) => `${n}@${pkg.peerDependencies[n]}`).sort());
      assert.ok(!existsSync(report), 'the report folder was created: the run started');
    });

    it('runs the demo: it starts, serves a request through the balancer and over TLS, rotates a renewed certificate, and stops on SIGINT', (t) => {
      // The demo listens on fixed ports (7000, 7101-7103, 9900): it runs in a network namespace of
      // its own, so nothing else on this machine can hold them.
      if (process.getuid?.() !== 0) return t.skip('needs root for a network namespace (unshare -n)');
      if (spawnSync('unshare', ['-n', 'true']).status !== 0) return t.skip('unshare -n is not permitted here');
      if (spawnSync('sh', ['-c', 'command -v ip']).status !== 0) return t.skip('ip (iproute2) is missing');
      const driver = join(dir, 'demo-driver.mjs');
      writeFileSync(driver, DEMO_DRIVER);
      const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$1" "$2"', process.execPath, driver, hitless], { encoding: 'utf8', timeout: 90_000 });
      assert.equal(r.status, 0, `the demo driver exited ${r.status} (${r.error?.message ?? ''}):\n${r.stdout}\n${r.stderr}`);
      const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { body: string; exit: number | null; tls: string; renewed: number; rotated: boolean };
      assert.match(result.body, /^hello from demo backend 127\.0\.0\.1:710[123]$/m);
      assert.match(result.tls, /^hello from demo backend 127\.0\.0\.1:710[123]$/m, 'https://localhost:7443 answers, verified against the demo certificate');
      assert.equal(result.renewed, 0, 'hitless demo --renew-certificate exits 0');
      assert.ok(result.rotated, 'after --renew-certificate, a new connection gets the new certificate');
      assert.equal(result.exit, 0, 'the demo exits 0 on SIGINT');
    });
  });
});

// Runs inside the namespace: starts the installed demo, waits for its banner, makes one request
// through the balancer, stops it with SIGINT; prints {body, exit}. Bounded by its own timer.
const DEMO_DRIVER = `
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const timer = setTimeout(() => { console.error('demo driver: no result within 60 s'); demo.kill('SIGKILL'); process.exit(2); }, 60_000);
const demo = spawn(process.argv[2], ['demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
demo.stderr.on('data', (c) => process.stderr.write(c));
const exited = new Promise((resolve) => demo.once('exit', (code) => resolve(code)));
await new Promise((resolve, reject) => {
  demo.stdout.on('data', (c) => { out += c; if (out.includes('hitless demo is running')) resolve(); });
  exited.then((code) => reject(new Error('the demo exited (' + code + ') before it ran: ' + out)));
});
const body = await new Promise((resolve, reject) => {
  get('http://127.0.0.1:7000/', (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(b)); }).on('error', reject);
});
// https on the certificate the demo made, verified against it; then a renewal, which the demo
// rotates to (a new connection is verified against the new certificate). Bounded: 100 tries.
const certPath = join(tmpdir(), 'hitless-demo', 'demo.pem');
const tlsGet = () => new Promise((resolve, reject) => {
  const req = httpsGet({ host: '127.0.0.1', port: 7443, servername: 'localhost', ca: readFileSync(certPath), agent: false }, (res) => {
    const fingerprint = res.socket.getPeerCertificate().fingerprint256;
    let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve({ body: b, fingerprint }));
  });
  req.on('error', reject);
});
const before = await tlsGet();
const renewed = spawnSync(process.argv[2], ['demo', '--renew-certificate'], { encoding: 'utf8' });
let after = null;
for (let i = 0; i < 100 && !(after && after.fingerprint !== before.fingerprint); i++) {
  after = await tlsGet().catch(() => null);
  if (!after || after.fingerprint === before.fingerprint) await new Promise((r) => setTimeout(r, 100));
}
demo.kill('SIGINT');
const exit = await exited;
clearTimeout(timer);
console.log(JSON.stringify({ body, exit, tls: before.body, renewed: renewed.status, rotated: after !== null && after.fingerprint !== before.fingerprint }));
`;
