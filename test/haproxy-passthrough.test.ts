// `services.NAME.haproxy:` (issue 19): HAProxy directives passed through to the HAProxy data plane,
// narrowly. The allow-lists are enforced when a config is loaded (with the reason, and never with
// the builtin data plane); what passes reaches the rendered config, is checked by `haproxy -c`
// like the rest, and the server keywords work for the servers hitless adds at runtime (HAProxy 2.6
// `add server`), so a discovered endpoint still costs no reload.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../src/config/errors.js';
import { BACKEND_DIRECTIVES, FRONTEND_DIRECTIVES, SERVER_KEYWORDS } from '../src/config/haproxy-passthrough.js';
import { parseConfig } from '../src/config/load.js';
import type { HaproxyDriver } from '../src/dataplane/haproxy/haproxy-driver.js';
import type { Hitless } from '../src/hitless.js';
import { HAPROXY, HaproxyUnderTest, haproxyMissing } from './helpers/haproxy-in-process.js';
import { startHttpBackend, type HttpBackend } from './helpers/http-backends.js';
import { request } from './helpers/http-client.js';
import { reservePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

const skip = haproxyMissing;

const text = (haproxy: unknown, driver = 'haproxy') =>
  stringify({ dataplane: { driver }, services: { web: { mode: 'http', listen: '127.0.0.1:18080', endpoints: ['127.0.0.1:18081'], haproxy } } });

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('haproxy pass-through: what a config may say', () => {
  it('takes allow-listed lines and server keywords, trimmed, onto the service', () => {
    const { config } = parseConfig(
      text({ frontend: ['  backlog 1024 ', 'option http-buffer-request'], backend: ['timeout queue 5s', 'http-check expect status 200', 'tcp-check send PING\\r\\n'], server_options: ' maxconn 100 slowstart 10s send-proxy ' }),
      'test.yaml',
    );
    assert.deepEqual(config.services.get('web')!.haproxy, {
      frontend: ['backlog 1024', 'option http-buffer-request'],
      backend: ['timeout queue 5s', 'http-check expect status 200', 'tcp-check send PING\\r\\n'],
      serverOptions: 'maxconn 100 slowstart 10s send-proxy',
    });
    assert.equal(parseConfig(text(undefined), 'test.yaml').config.services.get('web')!.haproxy, null);
  });

  it('refuses, with the reason, what hitless renders itself or what could smuggle a directive', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ frontend: ['bind 127.0.0.1:9999'] }, /services\.web\.haproxy\.frontend\[0\]: "bind 127.0.0.1:9999" is not a directive hitless passes into a frontend \(allowed: backlog, /],
      [{ frontend: ['mode tcp'] }, /frontend\[0\]: "mode tcp" is not a directive/],
      [{ backend: ['http-request set-header x-forwarded-for 1.2.3.4'] }, /backend\[0\]: "http-request set-header" is not a directive hitless passes into a backend/],
      [{ backend: ['server extra 127.0.0.1:1'] }, /backend\[0\]: "server extra" is not a directive/],
      [{ backend: ['balance uri'] }, /backend\[0\]: "balance uri" is not a directive/],
      [{ backend: ['timeout queue 5s\nbind :81'] }, /backend\[0\]: not passed through: control characters \(a line is one directive\)/],
      [{ backend: ['http-check send hdr X-Secret "${HITLESS_ADMIN_TOKEN}"'] }, /backend\[0\]: not passed through: environment expansion/],
      [{ backend: ['http-check send hdr X "unterminated'] }, /backend\[0\]: not passed through: an unterminated quote/],
      [{ server_options: 'weight 5' }, /server_options: "weight" is rendered by hitless: use the endpoint weight/],
      [{ server_options: 'check inter 2s' }, /server_options: "check" is rendered by hitless: use health\.active/],
      [{ server_options: 'cookie s1' }, /server_options: "cookie" is not a server keyword hitless passes through \(allowed: backup, /],
      [{ server_options: 'maxconn' }, /server_options: "maxconn" needs 1 argument/],
      [{ listen: ['mode http'] }, /services\.web\.haproxy\.listen: unknown key "listen"; allowed here: frontend, backend, server_options/],
    ];
    for (const [haproxy, expected] of cases) {
      const found = problems(text(haproxy));
      assert.equal(found.length, 1, `${JSON.stringify(haproxy)}: ${found.join(' | ')}`);
      assert.match(found[0], expected);
    }
  });

  it('is refused with the builtin data plane, which could not apply it', () => {
    assert.deepEqual(problems(text({ backend: ['timeout queue 5s'] }, 'builtin')), [
      'services.web.haproxy: HAProxy directives need dataplane.driver: haproxy (the builtin data plane cannot apply them); remove them or switch the driver',
    ]);
  });
});

describe('haproxy pass-through: rendered, checked and applied by the real HAProxy', { skip }, () => {
  let haproxy: HaproxyUnderTest | undefined;
  let dir: string;
  let backends: HttpBackend[] = [];
  let h: Hitless | undefined;
  let driver: HaproxyDriver;
  let webPort: number;
  let tlsPort: number;
  let certs: { ca: string; crt: string } | null = null;

  // Every allow-listed directive, in a form HAProxy takes, so the allow-lists cannot list one it refuses.
  const FRONTEND_EXAMPLES: Record<string, string> = {
    backlog: 'backlog 1024',
    'rate-limit sessions': 'rate-limit sessions 5000',
    'timeout client-fin': 'timeout client-fin 5s',
    'option tcpka': 'option tcpka',
    'option clitcpka': 'option clitcpka',
    'option splice-auto': 'option splice-auto',
    'option splice-request': 'option splice-request',
    'option splice-response': 'option splice-response',
    'option tcp-smart-accept': 'option tcp-smart-accept',
    'option http-buffer-request': 'option http-buffer-request',
  };
  const BACKEND_EXAMPLES: Record<string, string> = {
    fullconn: 'fullconn 100',
    'timeout queue': 'timeout queue 5s',
    'timeout server-fin': 'timeout server-fin 5s',
    'option tcpka': 'option tcpka',
    'option srvtcpka': 'option srvtcpka',
    'option splice-auto': 'option splice-auto',
    'option splice-request': 'option splice-request',
    'option splice-response': 'option splice-response',
    'option tcp-smart-connect': 'option tcp-smart-connect',
    'option abortonclose': 'option abortonclose',
    'option allbackups': 'option allbackups',
    'option prefer-last-server': 'option prefer-last-server',
    'option http-buffer-request': 'option http-buffer-request',
    'option tcp-check': 'option tcp-check',
    'option mysql-check': 'option mysql-check user haproxy',
    'option pgsql-check': 'option pgsql-check user haproxy',
    'option redis-check': 'option redis-check',
    'option smtpchk': 'option smtpchk',
    'option ssl-hello-chk': 'option ssl-hello-chk',
    'option ldap-check': 'option ldap-check',
    'tcp-check connect': 'tcp-check connect',
    'tcp-check send': 'tcp-check send PING\\r\\n',
    'tcp-check send-binary': 'tcp-check send-binary 50494e47',
    'tcp-check expect': 'tcp-check expect string +PONG',
    'tcp-check comment': 'tcp-check comment redis',
    'http-check expect': 'http-check expect status 200',
    'http-check send': 'http-check send hdr Host example.com',
    'http-check send-state': 'http-check send-state',
    'http-check disable-on-404': 'http-check disable-on-404',
    'http-reuse': 'http-reuse safe',
    'max-keep-alive-queue': 'max-keep-alive-queue 10',
    'compression algo': 'compression algo gzip',
    'compression type': 'compression type text/plain',
  };

  const configText = (webExtra: Record<string, unknown>, tlsEndpoints: string[]) =>
    stringify(
      {
        admin: { listen: `unix:${haproxy!.adminSocket}` },
        dataplane: haproxy!.dataplane,
        services: {
          web: {
            mode: 'http',
            listen: `127.0.0.1:${webPort}`,
            endpoints: [backends[0].address],
            health: { active: { type: 'http', path: '/health', interval: '500ms', rise: 1, fall: 2 } },
            haproxy: {
              frontend: ['backlog 1024', 'option http-buffer-request'],
              backend: ['timeout queue 5s', 'option tcpka', 'http-check expect status 200'],
              server_options: 'maxconn 100 maxqueue 10 slowstart 2s fastinter 500ms downinter 1s on-marked-down shutdown-sessions pool-max-conn 10 pool-purge-delay 5s',
            },
            ...webExtra,
          },
          // Never sent traffic: it carries every server keyword, for the runtime `add server`.
          tls: {
            mode: 'tcp',
            listen: `127.0.0.1:${tlsPort}`,
            endpoints: tlsEndpoints,
            health: { active: { type: 'tcp', interval: '10s' } },
            haproxy: {
              server_options: [
                'backup maxconn 10 maxqueue 5 minconn 1 slowstart 5s send-proxy send-proxy-v2 ssl verify required',
                `ca-file ${certs!.ca} crt ${certs!.crt} verifyhost backend.test sni str(backend.test) alpn http/1.1 check-ssl check-sni backend.test`,
                'fastinter 500ms downinter 1s port 1 addr 127.0.0.1 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions',
                'pool-max-conn 10 pool-purge-delay 5s tfo',
              ].join(' '),
            },
          },
        },
      },
      { lineWidth: 0 },
    );
  const apply = (t: string) => h!.controller.apply(parseConfig(t, 'test.yaml'), { origin: 'admin' });

  before(async () => {
    haproxy = await HaproxyUnderTest.create('hitless-passthrough-');
    dir = haproxy.dir;
    // A CA-signed pair is not needed: HAProxy only has to load the files (no handshake happens).
    const key = join(dir, 'key.pem');
    const ca = join(dir, 'ca.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', ca, '-days', '1', '-subj', '/CN=backend.test'], { stdio: 'ignore' });
    const crt = join(dir, 'crt.pem');
    writeFileSync(crt, (await readFile(ca, 'utf8')) + (await readFile(key, 'utf8')));
    certs = { ca, crt };
    webPort = await reservePort();
    tlsPort = await reservePort();
    backends = await Promise.all(['p0', 'p1'].map((n) => startHttpBackend(n)));
    h = await haproxy.start(configText({}, ['127.0.0.1:1']));
    driver = haproxy.driver;
  });

  after(async () => {
    try {
      await haproxy?.close();
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  it('renders the lines where they belong and serves traffic through them', async () => {
    const cfg = await readFile(driver.paths.config, 'utf8');
    const frontend = cfg.slice(cfg.indexOf('frontend web'), cfg.indexOf('frontend tls'));
    const backend = cfg.slice(cfg.indexOf('backend web:default'));
    assert.match(frontend, /\n {2}backlog 1024\n {2}option http-buffer-request\n/);
    assert.match(backend, /\n {2}option httpchk GET \/health\n {2}timeout queue 5s\n {2}option tcpka\n {2}http-check expect status 200\n {2}server /);
    assert.match(backend, / check inter 500ms fall 2 rise 1 maxconn 100 maxqueue 10 slowstart 2s /);
    const reply = await waitFor('an answer through HAProxy', async () => {
      const r = await request(webPort, '/').catch(() => null);
      return r?.status === 200 ? r : false;
    });
    assert.equal(reply.headers['x-backend'], 'p0');
  });

  it('adds discovered-style endpoints at runtime with the passed-through server keywords, with no reload', async () => {
    const before = driver.status().haproxy;
    await apply(configText({ endpoints: [backends[0].address, backends[1].address] }, ['127.0.0.1:1', '127.0.0.1:2']));
    const now = driver.status().haproxy;
    assert.equal(now.reloads, before.reloads, 'every server keyword is accepted by add server: no reload was needed');
    assert.equal(now.runtimeApplies, before.runtimeApplies + 1);
    const seen = new Set<string>();
    await waitFor('both backends answering', async () => {
      const r = await request(webPort, '/').catch(() => null);
      if (r?.status === 200) seen.add(String(r.headers['x-backend']));
      return seen.size === 2;
    });
    const state = await driver.process.worker.showServersState();
    assert.match(state, / tls:default \d+ 127\.0\.0\.1:2 /, 'the tls server was added at runtime');
  });

  it('a changed line is a structural change: one reload, checked by haproxy -c first', async () => {
    const before = driver.status().haproxy.reloads;
    await apply(configText({ endpoints: [backends[0].address, backends[1].address], haproxy: { backend: ['timeout queue 7s'] } }, ['127.0.0.1:1', '127.0.0.1:2']));
    assert.equal(driver.status().haproxy.reloads, before + 1);
    assert.match(await readFile(driver.paths.config, 'utf8'), /\n {2}timeout queue 7s\n/);
    // What passes the allow-list is still HAProxy's to judge: a bad value is its message, and nothing changes.
    const running = h!.controller.current!.hash;
    await assert.rejects(
      apply(configText({ endpoints: [backends[0].address], haproxy: { backend: ['timeout queue soon'] } }, ['127.0.0.1:1'])),
      (err: Error) => /timeout queue/.test(err.message),
    );
    assert.equal(h!.controller.current!.hash, running);
  });

  it('every allow-listed directive is one HAProxy accepts', async () => {
    assert.deepEqual(Object.keys(FRONTEND_EXAMPLES).sort(), [...FRONTEND_DIRECTIVES].sort());
    assert.deepEqual(Object.keys(BACKEND_EXAMPLES).sort(), [...BACKEND_DIRECTIVES].sort());
    const tlsOptions = new Set((parseConfig(configText({}, []), 'test.yaml').config.services.get('tls')!.haproxy?.serverOptions ?? '').split(' '));
    assert.deepEqual(Object.keys(SERVER_KEYWORDS).filter((k) => !tlsOptions.has(k)), [], 'the tls service uses every server keyword');
    const { config } = parseConfig(
      stringify({
        dataplane: { driver: 'haproxy' },
        services: {
          a: { mode: 'http', listen: '127.0.0.1:18090', endpoints: ['127.0.0.1:18091'], haproxy: { frontend: Object.values(FRONTEND_EXAMPLES), backend: Object.values(BACKEND_EXAMPLES) } },
        },
      }),
      'all.yaml',
    );
    const { renderConfig } = await import('../src/dataplane/haproxy/render-config.js');
    const { checkConfig } = await import('../src/dataplane/haproxy/haproxy-check.js');
    const rendered = renderConfig(config, driver.paths, config.dataplane.haproxy);
    const file = join(dir, 'all.cfg');
    writeFileSync(file, rendered.text);
    assert.equal(await checkConfig(HAPROXY, file, 'all.cfg'), null);
  });
});
