// `hitless import` over realistic synapse and nerve configs (issue 19), through the real CLI: for
// each fixture, the report on stderr is exactly the one expected (every option not carried over,
// with why), the YAML on stdout is exactly the one expected and valid by `hitless validate`, and
// an independent walk over the source config finds no option that is neither mapped, passed
// through, nor reported: nothing is dropped silently. Serving from a real ZooKeeper is in
// import-serve.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from './helpers/paths.js';
import { FIXTURES, runImport, validate, type Imported } from './helpers/smartstack.js';

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly dir: string;
  readonly expected: string;
  readonly report: string;
  readonly kind: 'synapse' | 'nerve';
  readonly covers: string;
}

const CASES: readonly Case[] = [
  { name: 'synapse, ZooKeeper, YAML', kind: 'synapse', dir: 'synapse-zookeeper', args: ['synapse', `${FIXTURES}/synapse-zookeeper/synapse.conf.yaml`], expected: 'expected.yaml', report: 'expected-report.txt', covers: 'three services (http, http with fallback servers, tcp), defaults, global, extra_sections, file_output' },
  { name: 'synapse, DNS', kind: 'synapse', dir: 'synapse-dns', args: ['synapse', `${FIXTURES}/synapse-dns/synapse.conf.json`], expected: 'expected.yaml', report: 'expected-report.txt', covers: 'dns watcher (names, addresses, nameserver, check_interval, backend_port_override), base, ec2tag and docker' },
  { name: 'synapse, HAProxy options, builtin', kind: 'synapse', dir: 'synapse-haproxy-options', args: ['synapse', `${FIXTURES}/synapse-haproxy-options/synapse.conf.json`], expected: 'expected.yaml', report: 'expected-report.txt', covers: 'server_options, frontend/backend/listen lines, bind_options, cookies, label_filters, serversets' },
  { name: 'synapse, HAProxy options, --dataplane haproxy', kind: 'synapse', dir: 'synapse-haproxy-options', args: ['synapse', `${FIXTURES}/synapse-haproxy-options/synapse.conf.json`, '--dataplane', 'haproxy'], expected: 'expected.haproxy.yaml', report: 'expected-report.haproxy.txt', covers: 'the same, passed through to HAProxy where allowed' },
  { name: 'synapse, conf.d', kind: 'synapse', dir: 'synapse-confd', args: ['synapse', `${FIXTURES}/synapse-confd/synapse.conf.json`], expected: 'expected.yaml', report: 'expected-report.txt', covers: 'service_conf_dir (json and yaml files, an override of the main file, a file it skips)' },
  { name: 'nerve, ZooKeeper, http and tcp checks', kind: 'nerve', dir: 'nerve-zookeeper', args: ['nerve', `${FIXTURES}/nerve-zookeeper/nerve.conf.json`], expected: 'expected.yaml', report: 'expected-report.txt', covers: 'http and tcp checks, several checks, weight, labels of several types, path encoding, etcd reporter, rabbitmq check' },
  { name: 'nerve, conf.d', kind: 'nerve', dir: 'nerve-confd', args: ['nerve', `${FIXTURES}/nerve-confd/nerve.yaml`], expected: 'expected.yaml', report: 'expected-report.txt', covers: 'a YAML main file whose services are all in service_conf_dir' },
];

const fixture = (dir: string, file: string) => readFileSync(join(ROOT, FIXTURES, dir, file), 'utf8');

describe('hitless import: each fixture, its exact report and output', () => {
  for (const c of CASES) {
    it(`${c.name} (${c.covers})`, async () => {
      const r = await runImport(c.args);
      assert.equal(r.code, 0, r.report.join('\n'));
      assert.deepEqual(r.report, fixture(c.dir, c.report).split('\n').filter((l) => l.length > 0), 'the report on stderr');
      assert.equal(r.text, fixture(c.dir, c.expected), 'the YAML on stdout');
      const v = await validate(r.text);
      assert.equal(v.code, 0, `hitless validate: ${v.stderr}`);
      assert.match(v.stdout, /: valid \(/);
      const silent = c.kind === 'synapse' ? silentlyDroppedSynapse(c, r) : silentlyDroppedNerve(c, r);
      assert.deepEqual(silent, [], 'options neither mapped, passed through nor reported');
    });
  }

  it('a conf.d directory given alone: its files, and a note that the main config was not read', async () => {
    const r = await runImport(['synapse', `${FIXTURES}/synapse-confd/conf.d`]);
    assert.equal(r.code, 0);
    assert.deepEqual(Object.keys(r.config.services), ['inventory', 'search']);
    assert.equal(r.config.services.inventory.listen, '127.0.0.1:5001', 'the conf.d file, not the main file');
    assert.ok(r.report.includes('note: service_conf_dir: a directory was given: its per-service files were read without a main config (no top-level haproxy defaults, no instance_id); import the main config file to carry those over'));
    assert.equal((await validate(r.text)).code, 0);
    const n = await runImport(['nerve', `${FIXTURES}/nerve-confd/services`, '--instance-id', 'worker-12']);
    assert.deepEqual(n.config.register.map((e: { name: string }) => e.name), ['worker-12', 'worker-12'], '--instance-id names the entries');
  });

  it('--port-offset moves every listener; --strict fails when something was not carried over; a bad path is an error', async () => {
    const r = await runImport(['synapse', `${FIXTURES}/synapse-confd/synapse.conf.json`, '--port-offset', '10000', '--strict']);
    assert.equal(r.code, 1, '--strict: options were not mapped');
    assert.deepEqual(Object.values(r.config.services).map((s) => (s as { listen: string }).listen), ['127.0.0.1:15001', '127.0.0.1:15300']);
    const missing = await runImport(['synapse', `${FIXTURES}/no-such-file.json`]);
    assert.equal(missing.code, 1);
    assert.equal(missing.text, '');
    assert.deepEqual(missing.report, [`hitless import: cannot read ${FIXTURES}/no-such-file.json: no such file or directory`]);
  });

  it('synapse and nerve together: one config with services and register, both valid', async () => {
    const r = await runImport(['synapse', `${FIXTURES}/synapse-zookeeper/synapse.conf.yaml`, '--nerve', `${FIXTURES}/nerve-zookeeper/nerve.conf.json`, '--admin', '127.0.0.1:19900']);
    assert.equal(r.code, 0);
    assert.deepEqual(Object.keys(r.config.services), ['accounts', 'billing', 'sessions']);
    assert.deepEqual(r.config.register.map((e: { service: string }) => e.service), ['accounts', 'sessions', 'billing', 'jobs']);
    assert.deepEqual(r.config.admin, { listen: '127.0.0.1:19900' });
    // The nerve part of the report says where it came from.
    assert.ok(r.report.some((l) => l.startsWith('not mapped: nerve.heartbeat_path = ')), r.report.join('\n'));
    assert.equal((await validate(r.text)).code, 0);
  });
});

// ---- An independent check that nothing is dropped silently -----------------------------------

/** Whether `path` (or a parent of it) is named by a "not mapped" line, or is inside a service left out. */
function reported(r: Imported, path: string): boolean {
  return r.report.some((line) => {
    const m = /^not mapped: (.+?) = /.exec(line) ?? /^note: (.+?): left out/.exec(line);
    if (!m) return false;
    const p = m[1];
    return path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`);
  });
}

function reportedValue(r: Imported, path: string, text: string): boolean {
  return r.report.some((line) => line.startsWith(`not mapped: ${path} = ${JSON.stringify(text)}`)) || reported(r, path);
}

const MAPPED_LINE = /^(mode (tcp|http)|balance (roundrobin|static-rr|leastconn|source|random)|timeout (connect|client|server|http-request|http-keep-alive|check)|contimeout|clitimeout|srvtimeout|retries|maxconn|option (httpchk|redispatch|forwardfor)|redispatch)\b/;
const MAPPED_SERVER = new Set(['check', 'inter', 'rise', 'fall', 'observe', 'error-limit', 'on-error']);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function readSynapseSource(c: Case): { top: any; services: Map<string, any> } {
  const main = c.args[1];
  const top = parse(readFileSync(join(ROOT, main), 'utf8'));
  const services = new Map<string, unknown>(Object.entries(top.services ?? {}));
  if (top.service_conf_dir) {
    const dir = join(ROOT, FIXTURES, c.dir, top.service_conf_dir);
    for (const f of readdirSync(dir).sort()) if (/\.(json|yaml)$/.test(f)) services.set(f.replace(/\.(json|yaml)$/, ''), parse(readFileSync(join(dir, f), 'utf8')));
  }
  return { top, services };
}

function allLines(value: unknown): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value as string];
}

function silentlyDroppedSynapse(c: Case, r: Imported): string[] {
  const { top, services } = readSynapseSource(c);
  const silent: string[] = [];
  const need = (path: string, ok: boolean) => {
    if (!ok && !reported(r, path)) silent.push(path);
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const passed = (svc: any, line: string) => [...(svc?.haproxy?.frontend ?? []), ...(svc?.haproxy?.backend ?? [])].includes(line.trim());
  const lineOk = (path: string, line: string, svc: unknown) => {
    if (!(MAPPED_LINE.test(line.trim().toLowerCase()) || passed(svc, line) || reportedValue(r, path, line))) silent.push(path);
  };
  for (const key of Object.keys(top)) need(key, ['services', 'service_conf_dir', 'haproxy'].includes(key));
  for (const [key, value] of Object.entries(top.haproxy ?? {})) {
    const path = `haproxy.${key}`;
    if (key === 'defaults') {
      const anyService = Object.values(r.config?.services ?? {});
      allLines(value).forEach((l, i) => lineOk(`${path}[${i}]`, l, anyService.find((s) => passed(s, l))));
    } else if (key === 'global') allLines(value).forEach((l, i) => need(`${path}[${i}]`, /^(nbthread|hard-stop-after)\b/.test(l) && r.config.dataplane?.haproxy !== undefined));
    else if (key === 'extra_sections') for (const title of Object.keys(value as object)) need(`${path}.${title}`, false);
    else need(path, key === 'bind_address');
  }
  for (const [name, svc] of services) {
    const path = `services.${name}`;
    const out = r.config?.services?.[name];
    for (const key of Object.keys(svc)) need(`${path}.${key}`, ['discovery', 'default_servers', 'keep_default_servers', 'use_previous_backends', 'backend_port_override', 'haproxy'].includes(key));
    for (const [key, value] of Object.entries(svc.discovery ?? {})) {
      need(`${path}.discovery.${key}`, ['method', 'hosts', 'path', 'servers', 'nameserver', 'check_interval'].includes(key) || (key === 'decode' && (value as { method?: string }).method === 'nerve'));
    }
    for (const [key, value] of Object.entries(svc.haproxy ?? {})) {
      const hp = `${path}.haproxy.${key}`;
      if (['frontend', 'backend', 'listen'].includes(key)) allLines(value).forEach((l, i) => lineOk(Array.isArray(value) ? `${hp}[${i}]` : hp, l, out));
      else if (key === 'server_options') {
        const words = String(value).split(/\s+/);
        for (const w of words.filter((w) => /^[a-z][a-z-]*$/.test(w) && !/^(layer4|layer7|mark-down|none|sudden-death)$/.test(w))) {
          const ok = MAPPED_SERVER.has(w) || (out?.haproxy?.server_options ?? '').split(' ').includes(w) || r.report.some((l) => l.startsWith(`not mapped: ${hp} = "${w}`));
          if (!ok && !reported(r, path)) silent.push(`${hp}: ${w}`);
        }
      } else need(hp, ['port', 'bind_address', 'server_port_override'].includes(key));
    }
  }
  return silent;
}

function silentlyDroppedNerve(c: Case, r: Imported): string[] {
  const top = parse(readFileSync(join(ROOT, c.args[1]), 'utf8'));
  const services = new Map<string, Record<string, unknown>>(Object.entries(top.services ?? {}));
  if (top.service_conf_dir) {
    const dir = join(ROOT, FIXTURES, c.dir, top.service_conf_dir);
    for (const f of readdirSync(dir).sort()) if (/\.(json|yaml)$/.test(f)) services.set(f.replace(/\.(json|yaml)$/, ''), parse(readFileSync(join(dir, f), 'utf8')));
  }
  const silent: string[] = [];
  const need = (path: string, ok: boolean) => {
    if (!ok && !reported(r, path)) silent.push(path);
  };
  for (const key of Object.keys(top)) need(key, ['services', 'service_conf_dir', 'instance_id'].includes(key));
  for (const [name, svc] of services) {
    const path = `services.${name}`;
    const out = r.config.register.find((e: { service: string }) => e.service === name);
    for (const key of Object.keys(svc)) need(`${path}.${key}`, ['host', 'port', 'reporter_type', 'zk_hosts', 'zk_path', 'check_interval', 'checks', 'weight', 'labels', 'node_type'].includes(key));
    ((svc.checks ?? []) as Array<Record<string, unknown>>).forEach((check, i) => {
      const used = out && out.check.type === check.type && (check.type !== 'http' || out.check.path === check.uri);
      if (!used) need(`${path}.checks[${i}]`, false);
      else for (const key of Object.keys(check)) need(`${path}.checks[${i}].${key}`, ['type', 'uri', 'port', 'timeout', 'rise', 'fall', 'host'].includes(key));
    });
  }
  return silent;
}
