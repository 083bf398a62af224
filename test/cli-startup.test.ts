// What the built CLI loads, seen through a module-resolution hook in the processes it starts:
// defining the commands (all that `--version` or `--help` needs) loads no dependency but
// commander, and the supervisor of `hitless run` loads no benchmark, demo or data plane code —
// those stay in the processes that run them — nor, for a config without ZooKeeper or etcd, their
// client libraries (etcd3 brings gRPC and protobufjs: 13–16 MB). This guards the imports that
// keep the supervisor's memory and the CLI's startup small (the figures themselves are
// machine-dependent: not asserted).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULTS } from '../src/config/schema.js';
import { DEFAULT_ADMIN } from '../src/cli/defaults.js';
import { SYSTEMD_ADMIN_SOCKET, defaultAdminListen } from '../src/config/admin-default.js';
import { CLI, ROOT, assertBuilt } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { SupervisedHitless } from './helpers/process-harness.js';

// Every module URL a process resolves is appended to DIR/<pid>.log (the hook thread shares the pid).
const RESOLVE_HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (result.url.startsWith('file:')) appendFileSync(\`\${process.env.HITLESS_TEST_TRACE_DIR}/\${process.pid}.log\`, result.url + '\\n');
  return result;
}
`;
const REGISTER = `import { register } from 'node:module';
register(new URL('./resolve-hook.mjs', import.meta.url));
`;

describe('what the CLI loads', () => {
  let dir: string;
  let hook: string;
  const started: SupervisedHitless[] = [];

  before(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'hitless-cli-startup-'));
    writeFileSync(join(dir, 'resolve-hook.mjs'), RESOLVE_HOOK);
    writeFileSync(join(dir, 'register.mjs'), REGISTER);
    hook = pathToFileURL(join(dir, 'register.mjs')).href;
  });
  after(async () => {
    for (const h of started) await h.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const loaded = (pid: number): string[] => {
    const file = join(dir, `${pid}.log`);
    assert.ok(existsSync(file), `no module trace for pid ${pid}`);
    return [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  };
  const packages = (urls: readonly string[]) => [...new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []))].sort();

  it('the --admin default shown by the client commands is the config default', () => {
    // Unless the packaged unit's socket exists on this host: the CLI then defaults to it.
    if (!existsSync(SYSTEMD_ADMIN_SOCKET)) assert.equal(DEFAULT_ADMIN, DEFAULTS.adminListen);
    assert.equal(DEFAULTS.adminListen, defaultAdminListen(process.env));
  });

  it('--version and --help load no dependency but commander', () => {
    for (const args of [['--version'], ['--help'], ['run', '--help']]) {
      const r = spawnSync(process.execPath, ['--import', hook, CLI, ...args], { cwd: ROOT, env: { ...process.env, HITLESS_TEST_TRACE_DIR: dir }, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, `hitless ${args.join(' ')}: ${r.stderr}`);
      const urls = loaded(r.pid!);
      assert.ok(urls.some((u) => u.endsWith('/dist/cli/main.js')), 'the trace sees the CLI');
      assert.deepEqual(packages(urls), ['commander'], `hitless ${args.join(' ')} loaded:\n${urls.join('\n')}`);
    }
  });

  it('the supervisor of hitless run loads no benchmark, demo, data plane or unused registry client code; its worker does run the data plane', async () => {
    const [listen, endpoint] = [await reservePort(), await reservePort()];
    const h = await SupervisedHitless.start({
      workers: 1,
      config: (admin) => `admin:\n  listen: ${admin}\nservices:\n  s:\n    mode: tcp\n    listen: 127.0.0.1:${listen}\n    endpoints: [127.0.0.1:${endpoint}]\n`,
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim(), HITLESS_TEST_TRACE_DIR: dir },
    });
    started.push(h);
    const s = await h.status();
    const supervisor = loaded(s.process.supervisorPid);
    const worker = loaded(s.process.workers[0].pid);
    // Control: the pattern below does match in the process that runs the data plane.
    assert.ok(worker.some((u) => u.endsWith('/dist/dataplane/builtin/builtin-driver.js')), 'the worker runs the builtin data plane');
    assert.ok(supervisor.some((u) => u.endsWith('/dist/process/supervisor.js')), 'the trace sees the supervisor');
    const forbidden = [/\/dist\/bench\//, /\/dist\/demo\//, /\/dist\/dataplane\/builtin\/builtin-driver\.js$/, /\/dist\/dataplane\/haproxy\//, /\/node_modules\/(vega|vega-lite|@resvg\/resvg-js|hdr-histogram-js)\//];
    const found = supervisor.filter((u) => forbidden.some((re) => re.test(u)));
    assert.deepEqual(found, [], `the supervisor loaded:\n${found.join('\n')}`);
    // The config has no discovery: or register:, so no registry client either (they load with
    // the first source or registration that uses them). Control: the trace does name packages.
    assert.ok(packages(supervisor).includes('zod'), `the trace names the supervisor's packages: ${packages(supervisor).join(', ')}`);
    const registryCode = [/\/dist\/discovery\/(zookeeper|etcd)-/, /\/dist\/register\/(zookeeper|etcd)-/, /\/node_modules\/(node-zookeeper-client|etcd3|@grpc\/[^/]+|protobufjs)\//];
    const clients = supervisor.filter((u) => registryCode.some((re) => re.test(u)));
    assert.deepEqual(clients, [], `a supervisor without discovery or registration loaded registry clients:\n${clients.join('\n')}`);
  });
});
