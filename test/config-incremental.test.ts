// The incremental parse (src/config/incremental.ts): services whose text did not change are reused
// (the same frozen objects), changed ones are validated again, and whatever the layout, the result
// (config or exact error) is the one the whole-text parse gives.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import jsyaml from 'js-yaml';
import { stringify } from 'yaml';
import { ConfigError } from '../src/config/errors.js';
import { clearParseCache } from '../src/config/incremental.js';
import { parseConfig, parseConfigLocated } from '../src/config/load.js';
import type { Config } from '../src/config/model.js';
import { normalise } from '../src/config/normalise.js';
import { rawConfigSchema } from '../src/config/schema.js';
import { diffConfigs } from '../src/control/plan.js';

const FILE = 'conf.yaml';
const N = 1000;
const name = (i: number): string => `svc-${String(i).padStart(5, '0')}`;
const host = (i: number): string => `127.1.${i >> 8}.${i & 255}`;

/** N services, each on its own port with 3 endpoints; the third endpoint's port is `third(i)`. */
function yamlText(third: (i: number) => string | number = () => 10_000): string {
  const out = ['admin:\n  listen: unix:/tmp/hitless-incremental-test.sock\nservices:\n'];
  for (let i = 0; i < N; i++) {
    out.push(
      `  ${name(i)}:\n    listen: 127.0.0.1:${20_000 + i}\n    endpoints:\n` +
        `      - ${host(i)}:8080\n      - { address: ${host(i)}:8081, weight: 2 }\n      - ${host(i)}:${third(i)}\n`,
    );
  }
  return out.join('');
}

function jsonText(third: (i: number) => string | number = () => 10_000, indent = 2): string {
  const services: Record<string, unknown> = {};
  for (let i = 0; i < N; i++) {
    services[name(i)] = { listen: `127.0.0.1:${20_000 + i}`, endpoints: [`${host(i)}:8080`, { address: `${host(i)}:8081`, weight: 2 }, `${host(i)}:${third(i)}`] };
  }
  return JSON.stringify({ admin: { listen: 'unix:/tmp/hitless-incremental-test.sock' }, services }, null, indent);
}

/** What parseConfig did before it was incremental: js-yaml and the whole schema, else the located parse. */
function reference(text: string): Config {
  let data: unknown;
  try {
    data = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA });
  } catch {
    data = undefined;
  }
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const parsed = rawConfigSchema.safeParse(data);
    if (parsed.success) {
      let valid = true;
      const config = normalise(parsed.data, () => (valid = false));
      if (valid) return config;
    }
  }
  return parseConfigLocated(text, FILE).config;
}

type Outcome = { config: Config } | { error: string };

function outcome(parse: () => Config): Outcome {
  try {
    return { config: parse() };
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { error: err.message };
  }
}

/** parseConfig(text) (with whatever the cache holds) gives what the whole-text parse gives. */
function agrees(text: string, what: string): Outcome {
  const got = outcome(() => parseConfig(text, FILE).config);
  const want = outcome(() => reference(text));
  if ('error' in want) assert.deepEqual(got, want, what);
  else {
    assert.ok('config' in got, `${what}: rejected: ${'error' in got ? got.error : ''}`);
    assert.deepStrictEqual(got.config, want.config, what);
    assert.deepEqual([...got.config.services.keys()], [...want.config.services.keys()], `${what}: order`);
  }
  return got;
}

function rejection(text: string): string {
  const r = outcome(() => parseConfig(text, FILE).config);
  assert.ok('error' in r, 'expected a rejection');
  return r.error;
}

/** file:line:col of the first occurrence of `needle` (1-based, as the messages give them). */
function position(text: string, needle: string): string {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, needle);
  const before = text.slice(0, at).split('\n');
  return `${FILE}:${before.length}:${before[before.length - 1].length + 1}`;
}

beforeEach(() => clearParseCache());

for (const [format, render] of [
  ['YAML', yamlText],
  ['JSON', jsonText],
] as const) {
  describe(`${format}, 1,000 services, one endpoint changed`, () => {
    it('the changed service is validated again; every other one is the same frozen object; the plan has one change', () => {
      const a = parseConfig(render(), FILE).config;
      const b = parseConfig(render((i) => (i === 500 ? 10_001 : 10_000)), FILE).config;
      assert.equal(b.services.size, N);
      for (const [n, s] of b.services) {
        if (n === name(500)) assert.notEqual(s, a.services.get(n));
        else assert.equal(s, a.services.get(n), n);
      }
      assert.deepEqual(
        b.services.get(name(500))!.endpoints.map((e) => e.key),
        [`${host(500)}:8080`, `${host(500)}:8081`, `${host(500)}:10001`],
      );
      assert.ok(Object.isFrozen(b.services.get(name(500))));
      const plan = diffConfigs(a, b);
      assert.deepEqual(
        plan.services.changed.map((c) => [c.name, c.endpoints]),
        [[name(500), { added: [`${host(500)}:10001`], removed: [`${host(500)}:10000`], reweighted: [] }]],
      );
      assert.deepStrictEqual(b, reference(render((i) => (i === 500 ? 10_001 : 10_000))));
    });

    it('an invalid change after a valid one was cached is rejected with the located message; the valid text still parses', () => {
      const valid = render();
      const first = parseConfig(valid, FILE).config;
      parseConfig(render((i) => (i === 700 ? 10_001 : 10_000)), FILE);
      const invalid = render((i) => (i === 700 ? 99_999 : 10_000));
      const message = rejection(invalid);
      if (format === 'YAML') {
        assert.equal(
          message,
          `${position(invalid, `${host(700)}:99999`)}: services.${name(700)}.endpoints[2]: port 99999 is out of range 1-65535, found "${host(700)}:99999"`,
        );
      } else {
        assert.match(message, new RegExp(`^${FILE}:\\d+:\\d+: services\\.${name(700)}\\.endpoints\\[2\\]: port 99999 is out of range 1-65535, found "${host(700).replaceAll('.', '\\.')}:99999"$`));
      }
      assert.equal(message, rejectionOfReference(invalid));
      // A listen address taken twice spans services: checked on every parse, cached or not.
      const clash = valid.replace(`127.0.0.1:${20_000 + 900}`, `127.0.0.1:${20_000 + 3}`);
      assert.equal(rejection(clash), rejectionOfReference(clash));
      assert.match(rejection(clash), new RegExp(`listen address 127\\.0\\.0\\.1:20003 is already used by service "${name(3)}"`));
      const again = parseConfig(valid, FILE).config;
      assert.equal(again.services.get(name(1)), first.services.get(name(1)));
      assert.deepStrictEqual(again, first);
    });

    it('a change of defaults applies to every service, cached or not', () => {
      const plain = render();
      const a = parseConfig(plain, FILE).config;
      const withDefaults =
        format === 'YAML'
          ? `defaults:\n  timeouts: { connect: 250ms }\n${plain}`
          : plain.replace('{\n  "admin"', '{\n  "defaults": { "timeouts": { "connect": "250ms" } },\n  "admin"');
      const b = agrees(withDefaults, 'defaults added');
      assert.ok('config' in b);
      for (const [n, s] of b.config.services) {
        assert.equal(s.timeouts.connect, 250, n);
        assert.notEqual(s, a.services.get(n));
      }
    });
  });
}

describe('whatever the layout, the incremental parse agrees with the whole-text parse', () => {
  const base = (extra = '', b = '    endpoints: [127.0.0.1:8001]\n'): string =>
    `admin:\n  listen: unix:/tmp/x.sock\nservices:\n  a:\n    listen: 127.0.0.1:7000\n    endpoints: [127.0.0.1:8000]\n  b:\n    listen: 127.0.0.1:7001\n${b}${extra}`;
  const cases: Array<[string, string[]]> = [
    ['an alias to an anchor in another service (cannot be cut), then the anchor changes', [
      base('', '    endpoints: *eps\n').replace('endpoints: [127.0.0.1:8000]', 'endpoints: &eps [127.0.0.1:8000]'),
      base('', '    endpoints: *eps\n').replace('endpoints: [127.0.0.1:8000]', 'endpoints: &eps [127.0.0.1:9000]'),
      base('', '    endpoints: *eps\n').replace('endpoints: [127.0.0.1:8000]', 'endpoints: &eps [127.0.0.1:9000, 127.0.0.1:9001]'),
    ]],
    ['an anchor and its alias inside one service', [
      base('', '    endpoints: &own [127.0.0.1:8001]\n    clusters: { x: { endpoints: *own } }\n    mode: http\n    routes: [{ cluster: x, path: /x }]\n'),
      base('', '    endpoints: &own [127.0.0.1:8002]\n    clusters: { x: { endpoints: *own } }\n    mode: http\n    routes: [{ cluster: x, path: /x }]\n'),
    ]],
    ['a quoted scalar running over what looks like the next service', [
      base('', '    access_log: { path: "/tmp/x\n  c: y" }\n'),
      base('', '    access_log: { path: "/tmp/x\n  c: z" }\n'),
      base(),
    ]],
    ['a block scalar, comments at every indentation, blank lines', [
      base('# a comment in column 0\n\n    # deeper\n  # at the services\' indentation\n  c:\n    listen: 127.0.0.1:7002\n    access_log:\n      path: >-\n        /tmp/folded\n\n'),
      base('  c:\n    listen: 127.0.0.1:7002\n    access_log:\n      path: >-\n        /tmp/folded\n        # not a comment\n'),
    ]],
    ['CRLF line ends', [base().replaceAll('\n', '\r\n'), base('', '    endpoints: [127.0.0.1:8002]\n').replaceAll('\n', '\r\n')]],
    ['top-level keys after the services', [`${base()}defaults:\n  retries: 0\n`, `${base()}defaults:\n  retries: 1\n`, `${base()}# end\ndefaults:\n  retries: 1\n`]],
    ['names that are numbers (listed first, in numeric order, as in any object) and 007 (the key 7)', [
      'services:\n  web:\n    listen: 127.0.0.1:7000\n  10:\n    listen: 127.0.0.1:7001\n  2:\n    listen: 127.0.0.1:7002\n',
      'services:\n  web:\n    listen: 127.0.0.1:7000\n  10:\n    listen: 127.0.0.1:7001\n  007:\n    listen: 127.0.0.1:7002\n',
    ]],
    ['a service given twice, a service with no body, a tab, a document marker', [
      base('  a:\n    listen: 127.0.0.1:7002\n'),
      base('  c:\n'),
      base('  c:\n\t listen: 127.0.0.1:7002\n'),
      `---\n${base()}`,
      base(),
    ]],
    ['services in flow style, inline services, services: {}', [
      'services: { a: { listen: 127.0.0.1:7000 }, b: { listen: 127.0.0.1:7001 } }\n',
      'services:\n  a: { listen: 127.0.0.1:7000 }\n  b: { listen: 127.0.0.1:7001, retries: 0 }\n',
      'services: {}\n',
      'services:\n',
    ]],
    ['JSON: compact, pretty, tabs; a repeated key; numbers YAML reads otherwise; __proto__; a trailing comma', [
      '{"services":{"a":{"listen":"127.0.0.1:7000","endpoints":["127.0.0.1:8000"]},"b":{"listen":"127.0.0.1:7001"}}}',
      '{\n\t"services": {\n\t\t"a": {"listen": "127.0.0.1:7000", "endpoints": ["127.0.0.1:8000"]},\n\t\t"b": {"listen": "127.0.0.1:7001"}\n\t}\n}',
      '{"services":{"a":{"listen":"127.0.0.1:7000","listen":"127.0.0.1:7005"},"b":{"listen":"127.0.0.1:7001"}}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000"},"a":{"listen":"127.0.0.1:7001"}}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000","retries":1e0},"b":{"listen":"127.0.0.1:7001","max_connections":1e400}}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000","__proto__":{"retries":1}}}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000"},}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000"}},"services":{"b":{"listen":"127.0.0.1:7001"}}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000"}},"\\u0073ervices":{"b":{"listen":"127.0.0.1:7001"}}}',
      '{"admin":{"listen":"unix:/tmp/x.sock"},"services":{"a":{"listen":"127.0.0.1:7000"}},"defaults":{"retries":0}}',
      '{"services":{"a":{"listen":"127.0.0.1:7000"}}} # a YAML comment',
      '{"services":{"a":{"listen":"127.0.0.1:7000\u007f"}}}',
    ]],
  ];
  for (const [what, texts] of cases) {
    it(what, () => {
      texts.forEach((text, i) => agrees(text, `${what} #${i}`));
      // Again, in the other order, with the cache filled by the later texts.
      [...texts].reverse().forEach((text, i) => agrees(text, `${what} reversed #${i}`));
    });
  }

  it('random configs and edits, valid and not, in YAML and JSON layouts (seeded)', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const names = ['web', 'api', 'db', 'svc.a', 'svc_b', '10', '2', 'x-1'];
    // Port 7000 is web's: the 'listen' mistake takes it twice (unless web is gone).
    /** A valid service, but one time in eight with one mistake. */
    const service = (i: number): Record<string, unknown> => {
      const s: Record<string, unknown> = { listen: `127.0.0.1:${7000 + i}` };
      const addresses = [...new Set(Array.from({ length: Math.floor(random() * 4) }, () => `10.0.0.${Math.floor(random() * 8)}`))];
      const endpoints: unknown[] = addresses.map((a) => (random() < 0.5 ? `${a}:80` : { address: `${a}:81`, weight: pick([0, 1, 2]) }));
      if (endpoints.length > 0 || random() < 0.3) s.endpoints = endpoints;
      if (random() < 0.3) s.balance = pick(['least-conn', 'source-hash']);
      if (random() < 0.3) s.timeouts = { connect: pick(['1s', '250ms']) };
      if (random() < 0.2) s.retries = pick([0, 3]);
      if (random() < 1 / 8) {
        const mistake = pick(['listen', 'weight', 'balance', 'duration', 'retries', 'key', 'duplicate']);
        if (mistake === 'listen') s.listen = '127.0.0.1:7000';
        else if (mistake === 'weight') s.endpoints = [...endpoints, { address: '10.0.1.1:80', weight: 1001 }];
        else if (mistake === 'balance') s.balance = 'fastest';
        else if (mistake === 'duration') s.timeouts = { connect: 'soon' };
        else if (mistake === 'retries') s.retries = 11;
        else if (mistake === 'key') s.colour = 'blue';
        else s.endpoints = ['10.0.1.1:80', '10.0.1.1:80'];
      }
      return s;
    };
    const render = (spec: Record<string, unknown>): string => {
      switch (pick(['yaml', 'yaml', 'yaml-flow', 'json', 'json-compact'])) {
        case 'yaml':
          return stringify(spec);
        case 'yaml-flow': {
          const { services, ...top } = spec as { services: Record<string, unknown> };
          const lines = Object.entries(services).map(([n, s]) => `  ${n}: ${JSON.stringify(s)}\n${random() < 0.3 ? '  # note\n' : ''}`);
          return `${Object.keys(top).length > 0 ? stringify(top) : ''}services:\n${lines.join('')}`;
        }
        case 'json':
          return JSON.stringify(spec, null, 2);
        default:
          return JSON.stringify(spec);
      }
    };
    let spec: { defaults?: unknown; services: Record<string, unknown> } = { services: {} };
    for (const n of names.slice(0, 5)) spec.services[n] = service(names.indexOf(n));
    let outcomes = 0;
    for (let round = 0; round < 300; round++) {
      const n = pick(names);
      const edit = random();
      if (edit < 0.6) spec.services[n] = service(names.indexOf(n));
      else if (edit < 0.75) delete spec.services[n];
      else if (edit < 0.85) spec = { ...spec, defaults: random() < 0.5 ? { retries: pick([0, 1, 12]) } : undefined };
      else if (edit < 0.9) for (const m of names) if (m in spec.services) spec.services[m] = service(names.indexOf(m));
      else spec = { ...spec, services: Object.fromEntries(Object.entries(spec.services).reverse()) };
      if (spec.defaults === undefined) delete spec.defaults;
      const text = render(spec);
      if ('config' in agrees(text, `round ${round}:\n${text}`)) outcomes++;
    }
    assert.ok(outcomes > 30 && outcomes < 270, `${outcomes} of 300 random configs valid: the generator should make both kinds`);
  });
});

describe('memory', () => {
  it('reused services do not keep the texts they were cut from alive (300 applies, each changing another service)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (const [format, render] of [
      ['YAML', yamlText],
      ['JSON', jsonText],
    ] as const) {
      const generation = new Array<number>(N).fill(10_000);
      let last = parseConfig(render((i) => generation[i]), FILE);
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 300; i++) {
        generation[i]++;
        last = parseConfig(render((j) => generation[j]), FILE);
      }
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      // Each text is about 150 kB: keeping them would grow the heap by some 45 MB.
      assert.ok(grown < 15e6, `${format}: the heap grew by ${(grown / 1e6).toFixed(1)} MB`);
      assert.equal(last.config.services.size, N);
    }
  });
});

function rejectionOfReference(text: string): string {
  const r = outcome(() => reference(text));
  assert.ok('error' in r, 'the reference accepted it');
  return r.error;
}
