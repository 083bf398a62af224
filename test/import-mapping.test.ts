// The import's mapping rules the fixtures do not reach, one by one (in process, on small configs):
// HAProxy times, timeouts per mode, balance spellings, server keywords it cannot read, listen
// addresses (localhost, IPv6, names, clashes, the offset), service names, secrets in the report,
// and pass-through lines hitless's own check would refuse.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { duration, haproxyTime, seconds } from '../src/import/durations.js';
import { runImport, type ImportRequest } from '../src/import/run-import.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function synapse(config: unknown, extra: Partial<ImportRequest> = {}): Promise<{ config: any; report: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'hitless-import-unit-'));
  const file = join(dir, 'synapse.conf.json');
  writeFileSync(file, JSON.stringify(config));
  const out = await runImport({ synapse: file, dataplane: 'builtin', portOffset: 0, ...extra });
  assert.ok(out.text !== null, out.report.join('\n'));
  return { config: parse(out.text), report: out.report.slice(1) };
}

const zk = (path = '/s') => ({ method: 'zookeeper', hosts: ['zk:2181'], path });
const withoutZkNote = (report: string[]) => report.filter((l) => !l.includes("read HAProxy settings from the data of a service's znode"));

describe('hitless import: mapping rules', () => {
  it('reads HAProxy times and nerve seconds, and writes hitless durations', () => {
    assert.deepEqual(['2s', '2000', '1m', '100us', '1h', '3d', 'x', '1.5s'].map(haproxyTime), [2000, 2000, 60_000, 0, 3_600_000, 259_200_000, null, null]);
    assert.deepEqual([0.5, '2', 1, -1, 'a', 0.1].map(seconds), [500, 2000, 1000, null, null, 100]);
    assert.deepEqual([500, 2000, 90_000, 3_600_000, 0].map(duration), ['500ms', '2s', '90s', '1h', '0ms']);
  });

  it('timeouts: tcp takes the shorter of client and server as idle; http falls back on client as HAProxy does', async () => {
    const { config, report } = await synapse({
      services: {
        t: { discovery: zk('/t'), haproxy: { port: 4001, listen: ['mode tcp', 'timeout client 5m', 'timeout server 30s', 'timeout http-request 5s'] } },
        h: { discovery: zk('/h'), haproxy: { port: 4002, listen: ['mode http', 'timeout client 40s', 'timeout server 20s', 'timeout http-keep-alive 3s'] } },
      },
    });
    assert.deepEqual(config.services.t.timeouts, { idle: '30s' });
    assert.deepEqual(config.services.h.timeouts, { header: '40s', idle: '3s', response: '20s' });
    assert.deepEqual(withoutZkNote(report), [
      'not mapped: services.t.haproxy = "timeout http-request 5s": an HTTP timeout in a tcp service',
      'note: services.t.haproxy: timeout client 5m and timeout server 30s are one idle timeout in hitless: the shorter, 30s',
    ]);
  });

  it('balance spellings, retries beyond 10, and what it cannot balance by', async () => {
    const { config, report } = await synapse({
      services: {
        a: { discovery: zk('/a'), haproxy: { port: 4011, backend: ['balance static-rr', 'retries 15'] } },
        b: { discovery: zk('/b'), haproxy: { port: 4012, backend: ['balance random(3)'] } },
        c: { discovery: zk('/c'), haproxy: { port: 4013, backend: ['balance uri'] } },
      },
    });
    assert.equal(config.services.a.balance, 'round-robin');
    assert.equal(config.services.a.retries, 10);
    assert.equal(config.services.b.balance, 'random-two');
    assert.equal(config.services.c.balance, undefined);
    assert.deepEqual(withoutZkNote(report), [
      'not mapped: services.c.haproxy.backend[0] = "balance uri": hitless balances round-robin, least-conn, random-two or source-hash (the client address). Instead: pick the closest of these as balance:',
      'note: services.a.haproxy.backend[0]: static-rr is mapped to round-robin (smooth weighted; weights may also change at runtime)',
      'note: services.a.haproxy.backend[1]: retries 15 is mapped to 10, the most hitless tries',
      'note: services.b.haproxy.backend[0]: random(3) is mapped to random-two (the better of two random endpoints)',
    ]);
  });

  it('server options: a keyword it does not know stops the reading, and says so; keywords need their arguments', async () => {
    const { config, report } = await synapse({
      services: {
        a: { discovery: zk('/a'), haproxy: { port: 4021, server_options: 'check rise 2 frobnicate 7 fall 4' } },
        b: { discovery: zk('/b'), haproxy: { port: 4022, server_options: 'inter 3s fall' } },
      },
    });
    assert.equal(config.services.a.health.active.rise, 2);
    assert.equal(config.services.a.health.active.fall, 3, 'fall 4 came after the unknown keyword');
    assert.equal(config.services.b.health, undefined);
    assert.deepEqual(withoutZkNote(report), [
      'not mapped: services.a.haproxy.server_options = "frobnicate 7 fall 4": "frobnicate" is not a server keyword this import knows, so the rest of the options could not be read either',
      'not mapped: services.b.haproxy.server_options = "fall": "fall" needs 1 argument',
      'not mapped: services.b.haproxy.server_options = "inter 3s": without check, HAProxy runs no health check. Instead: add check to the server options',
    ]);
  });

  it('listen addresses: localhost and * mapped, IPv6 bracketed, names and clashes refused, the offset bounded', async () => {
    const { config, report } = await synapse(
      {
        services: {
          a: { discovery: zk('/a'), haproxy: { port: 4031 } },
          b: { discovery: zk('/b'), haproxy: { port: 4032, bind_address: '*' } },
          c: { discovery: zk('/c'), haproxy: { port: 4033, bind_address: '::1' } },
          d: { discovery: zk('/d'), haproxy: { port: 4034, bind_address: 'proxy.local' } },
          e: { discovery: zk('/e'), haproxy: { port: 4031 } },
          f: { discovery: zk('/f'), haproxy: { port: 60000 } },
          g: { discovery: zk('/g'), haproxy: { port: null, bind_address: '/run/g.sock' } },
          h: { discovery: zk('/h'), haproxy: { server_options: 'check' } },
        },
      },
      { portOffset: 10000 },
    );
    assert.deepEqual(
      Object.fromEntries(Object.entries(config.services).map(([n, s]) => [n, (s as { listen: string }).listen])),
      { a: '127.0.0.1:14031', b: '0.0.0.0:14032', c: '[::1]:14033' },
    );
    assert.deepEqual(withoutZkNote(report), [
      'not mapped: services.d.haproxy.bind_address = "proxy.local": hitless listens on IP addresses. Instead: give the address this name resolves to',
      'not mapped: services.e.haproxy.port = 4031: listen address 127.0.0.1:14031 is already the service "a"\'s',
      'not mapped: services.f.haproxy.port = 60000: port 60000 + offset 10000 is outside 1-65535',
      'not mapped: services.g.haproxy.port = null: hitless listens on TCP ports (synapse binds bind_address alone, e.g. a unix socket, when port is null)',
      'not mapped: services.h.haproxy = {"server_options":"check"}: no port: synapse made only a backend, reached through shared_frontend or extra_sections; a hitless service always listens. Instead: give the service a haproxy.port',
    ]);
  });

  it('service names hitless cannot take are renamed, and the report says so', async () => {
    const { config, report } = await synapse({ services: { 'geo@eu/v2': { discovery: zk(), haproxy: { port: 4041 } } } });
    assert.deepEqual(Object.keys(config.services), ['geo_eu_v2']);
    assert.ok(report.includes('note: services.geo@eu/v2: named "geo_eu_v2" in hitless (service names use letters, digits, ".", "_" and "-")'));
  });

  it('secrets in the source are not repeated in the report', async () => {
    const { report } = await synapse({
      services: { a: { discovery: { method: 'ec2tag', aws_secret_access_key: 'wJalrXUtnFEMI', tag_name: 'role', tag_value: 'a' }, default_servers: [{ host: '10.0.0.1', port: 80 }], haproxy: { port: 4051 } } },
    });
    assert.ok(!report.join('\n').includes('wJalrXUtnFEMI'), report.join('\n'));
    assert.match(report.join('\n'), /"aws_secret_access_key":"\*\*\*"/);
  });

  it('with --dataplane haproxy, an allowed line hitless would still refuse (environment expansion) is reported, not passed', async () => {
    const { config, report } = await synapse(
      { services: { a: { discovery: zk(), haproxy: { port: 4061, backend: ['http-check send hdr Authorization "Bearer ${HC_TOKEN}"', 'timeout queue 5s'] } } } },
      { dataplane: 'haproxy' },
    );
    assert.deepEqual(config.services.a.haproxy, { backend: ['timeout queue 5s'] });
    assert.ok(report.includes('not mapped: services.a.haproxy.backend[0] = "http-check send hdr Authorization \\"Bearer ${HC_TOKEN}\\"": not passed through: environment expansion ("$" inside double quotes)'), report.join('\n'));
  });
});
