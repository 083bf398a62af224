// parseConfig / loadConfigFile: the normalised, frozen result of a valid file, and every way a
// file is rejected, each with its exact message: file:line:col, key path, expected, found.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../src/config/errors.js';
import { loadConfigFile, parseConfig } from '../src/config/load.js';
import { DEFAULTS } from '../src/config/schema.js';
import { configProblems } from './helpers/config-problems.js';

const FILE = 'conf.yaml';

const problems = (text: string): string[] => configProblems(text, FILE);

function rejects(text: string, ...expected: string[]): void {
  assert.deepEqual(problems(text), expected);
}

const svc = (body: string): string => `services:\n  echo:\n    listen: 127.0.0.1:7000\n${body}`;

describe('a valid config', () => {
  const text = `# every default in play, and every override level
admin:
  listen: unix:/tmp/hitless-config-test/admin.sock
defaults:
  balance: least-conn
  timeouts: { idle: 5m }
  retries: 1
services:
  echo:
    listen: 127.0.0.1:7000
    endpoints:
      - 127.0.0.1:7101
      - { address: 127.0.0.1:7102, weight: 2 }
    timeouts: { connect: 500ms }
  web:
    mode: tcp
    listen: [localhost:7001, "[::1]:7001"]
    balance: source-hash
    endpoints: [Backend.Example:8080]
    retries: 0
    max_connections: 100
    timeouts: { connect: 1.5s, idle: "0", drain: 1h }
  bare:
    listen: "*:7002"
`;
  const snapshot = parseConfig(text, FILE);
  const { config } = snapshot;

  it('keeps the text, its source and its sha256 hash', () => {
    assert.equal(snapshot.text, text);
    assert.equal(snapshot.source, FILE);
    assert.equal(snapshot.hash, createHash('sha256').update(text).digest('hex'));
  });

  it('normalises the admin address and defaults the token', () => {
    assert.equal(config.admin.listen.kind, 'unix');
    assert.equal(config.admin.listen.key, 'unix:/tmp/hitless-config-test/admin.sock');
    assert.equal(config.admin.listen.kind === 'unix' && config.admin.listen.path, '/tmp/hitless-config-test/admin.sock');
    assert.equal(config.admin.token, null);
  });

  it('lists services in file order', () => {
    assert.deepEqual([...config.services.keys()], ['echo', 'web', 'bare']);
  });

  it('applies service > defaults > built-in defaults', () => {
    const echo = config.services.get('echo')!;
    assert.equal(echo.name, 'echo');
    assert.equal(echo.mode, 'tcp');
    assert.equal(echo.balance, 'least-conn');
    assert.deepEqual(echo.listen, [{ host: '127.0.0.1', port: 7000, key: '127.0.0.1:7000' }]);
    assert.deepEqual(echo.endpoints, [
      { host: '127.0.0.1', port: 7101, key: '127.0.0.1:7101', weight: 1 },
      { host: '127.0.0.1', port: 7102, key: '127.0.0.1:7102', weight: 2 },
    ]);
    assert.deepEqual({ ...echo.timeouts }, { ...echo.timeouts, connect: 500, idle: 300_000, drain: DEFAULTS.timeouts.drain });
    assert.equal(echo.timeouts.drain, 30_000);
    assert.equal(echo.retries, 1);
    assert.equal(echo.maxConnections, null);
  });

  it('normalises addresses: localhost, IPv6 brackets, *, lower-case hostnames', () => {
    const web = config.services.get('web')!;
    assert.deepEqual(web.listen, [
      { host: '127.0.0.1', port: 7001, key: '127.0.0.1:7001' },
      { host: '::1', port: 7001, key: '[::1]:7001' },
    ]);
    assert.deepEqual(web.endpoints, [{ host: 'backend.example', port: 8080, key: 'backend.example:8080', weight: 1 }]);
    assert.deepEqual(config.services.get('bare')!.listen, [{ host: '0.0.0.0', port: 7002, key: '0.0.0.0:7002' }]);
  });

  it('parses durations (1.5s, 0, 1h) and keeps explicit zero retries and max_connections', () => {
    const web = config.services.get('web')!;
    assert.equal(web.balance, 'source-hash');
    assert.equal(web.timeouts.connect, 1_500);
    assert.equal(web.timeouts.idle, 0);
    assert.equal(web.timeouts.drain, 3_600_000);
    assert.equal(web.retries, 0);
    assert.equal(web.maxConnections, 100);
  });

  it('uses the built-in defaults when nothing overrides them', () => {
    const bare = config.services.get('bare')!;
    assert.deepEqual(bare.endpoints, []);
    const plain = parseConfig('services:\n  s:\n    listen: 127.0.0.1:7000\n', FILE);
    const s = plain.config.services.get('s')!;
    assert.equal(s.mode, 'tcp');
    assert.equal(s.balance, 'round-robin');
    assert.equal(s.retries, 2);
    assert.equal(s.maxConnections, null);
    assert.equal(s.timeouts.connect, 2_000);
    assert.equal(s.timeouts.idle, 600_000);
    assert.equal(s.timeouts.drain, 30_000);
    assert.equal(plain.config.admin.listen.key, DEFAULTS.adminListen);
    assert.equal(plain.config.admin.token, null);
  });

  it('is frozen: snapshot, config, admin, services, listen and endpoint lists, timeouts', () => {
    assert.ok(Object.isFrozen(snapshot));
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.admin));
    for (const s of config.services.values()) {
      assert.ok(Object.isFrozen(s), s.name);
      assert.ok(Object.isFrozen(s.listen), `${s.name}.listen`);
      assert.ok(Object.isFrozen(s.endpoints), `${s.name}.endpoints`);
      assert.ok(Object.isFrozen(s.timeouts), `${s.name}.timeouts`);
      for (const e of s.endpoints) assert.ok(Object.isFrozen(e), e.key);
    }
    assert.throws(() => {
      (config.services.get('echo')!.endpoints as unknown as unknown[]).push({});
    }, TypeError);
  });

  it('is frozen all the way down (listen addresses, admin address, the services map)', () => {
    for (const s of config.services.values()) for (const l of s.listen) assert.ok(Object.isFrozen(l), l.key);
    assert.ok(Object.isFrozen(config.admin.listen));
    assert.throws(() => (config.services as Map<string, unknown>).set('x', {}), TypeError);
    assert.throws(() => (config.services as Map<string, unknown>).delete('echo'), TypeError);
  });

  it('accepts idle: 0 written as a YAML number ("0: never", as model.ts documents)', () => {
    assert.equal(parseConfig(svc('    timeouts: { idle: 0 }\n'), FILE).config.services.get('echo')!.timeouts.idle, 0);
  });

  it('reads JSON as well (JSON is YAML)', () => {
    const json = parseConfig(JSON.stringify({ services: { j: { listen: '127.0.0.1:7000', endpoints: [{ address: '127.0.0.1:7101', weight: 3 }] } } }), 'c.json');
    assert.deepEqual(json.config.services.get('j')!.endpoints, [{ host: '127.0.0.1', port: 7101, key: '127.0.0.1:7101', weight: 3 }]);
  });

  it('accepts a TCP admin address with a token', () => {
    const c = parseConfig('admin:\n  listen: localhost:9900\n  token: 0123456789abcdef\nservices: {}\n', FILE).config;
    assert.deepEqual({ ...c.admin.listen }, { kind: 'tcp', host: '127.0.0.1', port: 9900, key: '127.0.0.1:9900' });
    assert.equal(c.admin.token, '0123456789abcdef');
  });

  it('rejects an empty document (or one with only comments): a truncated file must not remove every service', () => {
    rejects('', `${FILE}:1:1: expected a map with "services:" at the top, found nothing`);
    rejects('# nothing yet\n', `${FILE}:1:1: expected a map with "services:" at the top, found nothing`);
    assert.equal(parseConfig('services: {}\n', FILE).config.services.size, 0);
  });
});

describe('rejected: malformed YAML', () => {
  it('an unclosed flow sequence', () => {
    rejects(svc('    endpoints: [127.0.0.1:7101\n'), `${FILE}:5:1: malformed YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`);
  });
  it('tabs as indentation', () => {
    rejects('services:\n\techo: 1\n', `${FILE}:2:1: malformed YAML: Tabs are not allowed as indentation`);
  });
  it('a key given twice', () => {
    rejects(svc('    listen: 127.0.0.1:7001\n'), `${FILE}:4:5: malformed YAML: Map keys must be unique`);
  });
  it('every syntax error, not just the first', () => {
    rejects(
      'services:\n  echo:\n   listen: 1\n  bad: : :\n',
      `${FILE}:4:8: malformed YAML: Nested mappings are not allowed in compact mappings`,
      `${FILE}:4:10: malformed YAML: Nested mappings are not allowed in compact mappings`,
    );
  });
});

describe('rejected: not a map', () => {
  it('a scalar document', () => {
    rejects('hello\n', `${FILE}:1:1: expected a map with "services:" at the top, found "hello"`);
  });
  it('a list document', () => {
    rejects('- a\n- b\n', `${FILE}:1:1: expected a map with "services:" at the top, found a list`);
  });
  it('services given as a list (names the key; message wording reported upstream)', () => {
    // The message reads "expected record, found a list": zod's "record" is not in load.ts's
    // TYPE_NAMES, so it should say "expected a map". Only the location and path are asserted.
    const [line] = problems('services: [a, b]\n');
    assert.match(line, /^conf\.yaml:1:11: services: expected .*, found a list$/);
  });
  it('a service that is empty', () => {
    rejects('services:\n  a:\n', `${FILE}:2:5: services.a: expected a map, found nothing`);
  });
  it('timeouts that are empty', () => {
    rejects(svc('    timeouts:\n'), `${FILE}:4:14: services.echo.timeouts: expected a map, found nothing`);
  });
});

describe('rejected: wrong types', () => {
  it('listen as a number', () => {
    rejects('services:\n  echo:\n    listen: 7000\n', `${FILE}:3:13: services.echo.listen: expected a listen address "ip:port", found number 7000`);
  });
  it('weight as a string', () => {
    rejects(
      svc('    endpoints:\n      - { address: 127.0.0.1:7101, weight: "2" }\n'),
      `${FILE}:5:44: services.echo.endpoints[0].weight: expected a number, found "2"`,
    );
  });
  it('endpoints as a scalar', () => {
    rejects(svc('    endpoints: 127.0.0.1:7101\n'), `${FILE}:4:16: services.echo.endpoints: expected a list, found "127.0.0.1:7101"`);
  });
  it('an endpoint as a number', () => {
    rejects(svc('    endpoints:\n      - 7101\n'), `${FILE}:5:9: services.echo.endpoints[0]: expected an endpoint address "host:port", found number 7101`);
  });
  it('an endpoint map without an address', () => {
    rejects(
      svc('    endpoints:\n      - { weight: 2 }\n'),
      `${FILE}:5:9: services.echo.endpoints[0].address: expected an endpoint address "host:port", found nothing`,
    );
  });
  it('retries as a word and as a boolean', () => {
    rejects(svc('    retries: many\n'), `${FILE}:4:14: services.echo.retries: expected a number, found "many"`);
    rejects(svc('    retries: true\n'), `${FILE}:4:14: services.echo.retries: expected a number, found boolean true`);
  });
  it('a balance that does not exist', () => {
    rejects(svc('    balance: fastest\n'), `${FILE}:4:14: services.echo.balance: expected one of "round-robin", "least-conn", "random-two", "source-hash", found "fastest"`);
  });
  it('a mode that does not exist (names the key and what was found)', () => {
    // The list of modes grows with the http mode; only the fixed parts are asserted.
    const [line] = problems(svc('    mode: udp\n'));
    assert.match(line, /^conf\.yaml:4:11: services\.echo\.mode: expected one of "tcp".*, found "udp"$/);
  });
  it('a missing listen', () => {
    rejects('services:\n  echo:\n    endpoints: [127.0.0.1:7101]\n', `${FILE}:3:5: services.echo.listen: expected a listen address "ip:port", found nothing`);
  });
  it('an empty listen list', () => {
    rejects('services:\n  echo:\n    listen: []\n', `${FILE}:3:13: services.echo.listen: expected a list with length >= 1, found a list`);
  });
  it('numbers out of range: weight, retries, max_connections', () => {
    rejects(
      svc('    endpoints:\n      - { address: 127.0.0.1:7101, weight: 5000 }\n'),
      `${FILE}:5:44: services.echo.endpoints[0].weight: expected a number <= 1000, found number 5000`,
    );
    rejects(
      svc('    endpoints:\n      - { address: 127.0.0.1:7101, weight: -1 }\n'),
      `${FILE}:5:44: services.echo.endpoints[0].weight: expected a number >= 0, found number -1`,
    );
    rejects(
      svc('    retries: -1\n    max_connections: 0\n'),
      `${FILE}:4:14: services.echo.retries: expected a number >= 0, found number -1`,
      `${FILE}:5:22: services.echo.max_connections: expected a number >= 1, found number 0`,
    );
  });
  it('a fractional max_connections (names the key; message wording reported upstream)', () => {
    // Reads "expected int, found number 1.5": zod's "int" is not translated to "an integer".
    const [line] = problems(svc('    max_connections: 1.5\n'));
    assert.match(line, /^conf\.yaml:4:22: services\.echo\.max_connections: expected .*, found number 1\.5$/);
  });
  it('a token that is too short (without showing it: messages reach logs and status)', () => {
    rejects('admin:\n  token: abc\nservices: {}\n', `${FILE}:2:10: admin.token: expected a string with length >= 16, found a string of 3 characters (not shown: a secret)`);
  });
  it('a service name with a space (names the key; message wording reported upstream)', () => {
    // Reads 'services.a b: Invalid key in record': zod's default text, not the schema's own
    // 'service names use letters, digits, ".", "_" and "-"'.
    const [line] = problems('services:\n  "a b":\n    listen: 127.0.0.1:7000\n');
    assert.match(line, /^conf\.yaml:2:3: services\.a b: |^conf\.yaml:3:5: services\.a b: /);
  });
});

describe('rejected: unknown keys (each names the keys allowed there)', () => {
  // The keys allowed at each level grow as features land (http, discovery, ...), so these assert
  // the exact message up to the list, then that the list holds at least the keys of the tcp core.
  const allowedHint = (line: string, prefix: string, atLeast: string[]): void => {
    assert.ok(line.startsWith(`${prefix}; allowed here: `), line);
    const listed = line.slice(`${prefix}; allowed here: `.length).split(', ');
    for (const key of atLeast) assert.ok(listed.includes(key), `"${key}" missing from: ${line}`);
  };
  it('at the top level', () => {
    const lines = problems('servics:\n  echo: {}\n');
    assert.equal(lines.length, 1);
    allowedHint(lines[0], `${FILE}:1:1: servics: unknown key "servics"`, ['admin', 'defaults', 'services']);
  });
  it('in admin', () => {
    const lines = problems('admin:\n  lisen: unix:/tmp/x.sock\nservices: {}\n');
    assert.equal(lines.length, 1);
    allowedHint(lines[0], `${FILE}:2:3: admin.lisen: unknown key "lisen"`, ['listen', 'token']);
  });
  it('in an endpoint', () => {
    rejects(
      svc('    endpoints:\n      - { address: 127.0.0.1:7101, wieght: 2 }\n'),
      `${FILE}:5:36: services.echo.endpoints[0].wieght: unknown key "wieght"; allowed here: address, weight`,
    );
  });
  it('in a service', () => {
    const lines = problems(svc('    endpoint: [127.0.0.1:7101]\n'));
    assert.equal(lines.length, 1);
    allowedHint(lines[0], `${FILE}:4:5: services.echo.endpoint: unknown key "endpoint"`, ['mode', 'listen', 'balance', 'endpoints', 'timeouts', 'retries', 'max_connections']);
  });
  it('in timeouts', () => {
    const lines = problems(svc('    timeouts: { conect: 2s }\n'));
    assert.equal(lines.length, 1);
    allowedHint(lines[0], `${FILE}:4:17: services.echo.timeouts.conect: unknown key "conect"`, ['connect', 'idle', 'drain']);
  });
  it('in defaults', () => {
    const lines = problems('defaults:\n  balanse: random-two\nservices: {}\n');
    assert.equal(lines.length, 1);
    allowedHint(lines[0], `${FILE}:2:3: defaults.balanse: unknown key "balanse"`, ['balance', 'timeouts', 'retries', 'max_connections']);
  });
});

describe('rejected: checks across keys', () => {
  it('the same listen address in two services (after normalising localhost)', () => {
    rejects(
      'services:\n  a:\n    listen: 127.0.0.1:7000\n  b:\n    listen: [127.0.0.1:7001, localhost:7000]\n',
      `${FILE}:5:30: services.b.listen[1]: listen address 127.0.0.1:7000 is already used by service "a"; each address belongs to one service`,
    );
  });
  it('the same listen address twice in one service', () => {
    rejects(
      'services:\n  a:\n    listen: [127.0.0.1:7000, 127.0.0.1:7000]\n',
      `${FILE}:3:30: services.a.listen[1]: listen address 127.0.0.1:7000 is already used by service "a"; each address belongs to one service`,
    );
  });
  it('the same endpoint twice', () => {
    rejects(
      svc('    endpoints: [127.0.0.1:7101, { address: 127.0.0.1:7101, weight: 2 }]\n'),
      `${FILE}:4:33: services.echo.endpoints[1]: endpoint 127.0.0.1:7101 is listed twice; give it one entry with a weight instead`,
    );
  });
  it('an admin address that is also a service listen address', () => {
    rejects(
      'admin:\n  listen: 127.0.0.1:7000\nservices:\n  a:\n    listen: 127.0.0.1:7000\n',
      `${FILE}:2:11: admin.listen: admin address 127.0.0.1:7000 is also the listen address of service "a"`,
    );
  });
});

describe('rejected: bad values', () => {
  it('a duration without a unit, or with a spelled-out unit', () => {
    rejects(svc('    timeouts: { idle: 30 }\n'), `${FILE}:4:23: services.echo.timeouts.idle: expected a duration such as 500ms, 2s, 10m or 1h, found number 30`);
    rejects(
      svc('    timeouts: { connect: 2 seconds }\n'),
      `${FILE}:4:26: services.echo.timeouts.connect: expected a duration such as 500ms, 2s, 10m or 1h, found "2 seconds"`,
    );
  });
  it('an address without a port', () => {
    rejects('services:\n  a:\n    listen: 127.0.0.1\n', `${FILE}:3:13: services.a.listen: expected "host:port" (IPv6 as "[::1]:port"), found "127.0.0.1"`);
    rejects(svc('    endpoints: [backend]\n'), `${FILE}:4:17: services.echo.endpoints[0]: expected "host:port" (IPv6 as "[::1]:port"), found "backend"`);
  });
  it('a hostname as a listen address', () => {
    rejects(
      'services:\n  a:\n    listen: example.com:7000\n',
      `${FILE}:3:13: services.a.listen: listen host "example.com" must be an IP address (or localhost, or *), found "example.com:7000"`,
    );
  });
  it('brackets around something that is not IPv6', () => {
    rejects('services:\n  a:\n    listen: "[foo]:7000"\n', `${FILE}:3:13: services.a.listen: "foo" is not an IPv6 address, found "[foo]:7000"`);
  });
  it('ports out of range (listen 70000, listen 0, endpoint 99999)', () => {
    rejects('services:\n  a:\n    listen: 127.0.0.1:70000\n', `${FILE}:3:13: services.a.listen: port 70000 is out of range 1-65535, found "127.0.0.1:70000"`);
    rejects('services:\n  a:\n    listen: 127.0.0.1:0\n', `${FILE}:3:13: services.a.listen: port 0 is out of range 1-65535, found "127.0.0.1:0"`);
    rejects(svc('    endpoints: [127.0.0.1:99999]\n'), `${FILE}:4:17: services.echo.endpoints[0]: port 99999 is out of range 1-65535, found "127.0.0.1:99999"`);
  });
  it('a bad admin address', () => {
    rejects(
      'admin:\n  listen: foo\nservices: {}\n',
      `${FILE}:2:11: admin.listen: expected "host:port" (IPv6 as "[::1]:port"), or "unix:/path/to/admin.sock", found "foo"`,
    );
    rejects('admin:\n  listen: "unix:"\nservices: {}\n', `${FILE}:2:11: admin.listen: expected "unix:/path/to/admin.sock", found "unix:"`);
  });
  it('a JSON file, located by line and column too', () => {
    const json = '{"services": {"a": {"listen": "127.0.0.1:7000", "endpoints": ["127.0.0.1:7101", {"address": "127.0.0.1:7102", "weight": "x"}]}}}';
    rejects(json, `${FILE}:1:121: services.a.endpoints[1].weight: expected a number, found "x"`);
  });
});

describe('rejected: several problems at once', () => {
  it('reports every problem, sorted by position', () => {
    rejects(
      'services:\n  a:\n    listen: 127.0.0.1:7000\n    retries: -1\n    balance: fastest\n    foo: 1\n    timeouts: { idle: forever }\n',
      `${FILE}:4:14: services.a.retries: expected a number >= 0, found number -1`,
      `${FILE}:5:14: services.a.balance: expected one of "round-robin", "least-conn", "random-two", "source-hash", found "fastest"`,
      ...problems('services:\n  a:\n    listen: 127.0.0.1:7000\n    foo: 1\n').map((l) => l.replace(':4:5:', ':6:5:')),
      `${FILE}:7:23: services.a.timeouts.idle: expected a duration such as 500ms, 2s, 10m or 1h, found "forever"`,
    );
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-config-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and parses a file, naming it in the snapshot', async () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(path, 'services:\n  a:\n    listen: 127.0.0.1:7000\n    endpoints: [127.0.0.1:7101]\n');
    const snapshot = await loadConfigFile(path);
    assert.equal(snapshot.source, path);
    assert.deepEqual([...snapshot.config.services.keys()], ['a']);
  });

  it('names the file in every problem', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'services:\n  a:\n    listen: 127.0.0.1:7000\n    retries: many\n');
    await assert.rejects(loadConfigFile(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${path}:4:14: services.a.retries: expected a number, found "many"`);
      return true;
    });
  });

  it('a missing file', async () => {
    const path = join(dir, 'missing.yaml');
    await assert.rejects(loadConfigFile(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'HITLESS_ERR_CONFIG_INVALID');
      assert.equal(err.message, `${path}:1:1: cannot read the config: no such file`);
      return true;
    });
  });

  it('a directory instead of a file', async () => {
    await assert.rejects(loadConfigFile(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${dir}:1:1: cannot read the config: EISDIR: illegal operation on a directory, read`);
      return true;
    });
  });
});
