// The worked example of docs/migrating-from-smartstack.md runs as written (issue 19): the guide
// shows examples/smartstack/try-it.sh verbatim, and the script itself — synapse + nerve configs,
// `hitless import`, `hitless validate`, `hitless run`, a request through hitless to the app — runs
// here against a real ZooKeeper, with the ports and the ZooKeeper address it takes from its
// environment, and `hitless` on PATH (a shim running this build).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, ROOT, assertBuilt } from './helpers/paths.js';
import { reservePort } from './helpers/ports.js';
import { reapOnExit } from './helpers/reap.js';
import { ZookeeperServer, zookeeperMissing } from './helpers/zookeeper.js';

const GUIDE = join(ROOT, 'docs/migrating-from-smartstack.md');
const SCRIPT = join(ROOT, 'examples/smartstack/try-it.sh');

/** The fenced blocks of a markdown text, with their info string. */
function blocks(markdown: string): Array<{ info: string; body: string }> {
  return [...markdown.matchAll(/^```(\S*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: m[1], body: m[2] }));
}

describe('the migration guide', () => {
  it('shows the worked example exactly as examples/smartstack/try-it.sh holds it', () => {
    const script = readFileSync(SCRIPT, 'utf8');
    const shown = blocks(readFileSync(GUIDE, 'utf8')).filter((b) => b.body.startsWith('#!/usr/bin/env bash'));
    assert.equal(shown.length, 1, 'one copy of the script in the guide');
    assert.equal(shown[0].body, script);
  });
});

const missing = zookeeperMissing() ?? (existsSync('/usr/bin/curl') ? null : 'curl is not installed (the example asks through hitless with curl): apt-get install curl');

describe('the worked example, run as written against a real ZooKeeper', { skip: missing ?? false }, () => {
  let zk: ZookeeperServer;
  let child: ChildProcess | undefined;

  before(async () => {
    zk = await ZookeeperServer.launch();
  });

  after(async () => {
    // The script stops what it started; should it have been cut short, its process group goes.
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await zk?.destroy();
  });

  it('imports the pair, validates, registers and serves the app through hitless', async () => {
    assertBuilt();
    const bin = mkdtempSync(join(tmpdir(), 'hitless-bin-'));
    writeFileSync(join(bin, 'hitless'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'hitless'), 0o755);
    const listen = await reservePort();
    const offset = 10_000;
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      ZK: zk.hosts,
      APP_PORT: String(await reservePort()),
      SYNAPSE_PORT: String(listen - offset),
      OFFSET: String(offset),
      HITLESS_LOG_LEVEL: 'warn',
    };
    assert.ok(listen - offset >= 1);
    child = reapOnExit(spawn('bash', [SCRIPT], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the example still ran after 90 s:\n${stdout}\n${stderr}`)), 90_000);
      child!.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /: valid \(1 service, hash [0-9a-f]{12}\)/, 'hitless validate');
    assert.match(stdout, /\nhello from the app\n/, 'the app answered through hitless');
    assert.match(stdout, new RegExp(`127\\.0\\.0\\.1:${env.APP_PORT}`), 'hitless status shows the registered app as the endpoint');
    // The report the guide shows is the report the example prints (its summary names temp files).
    const guide = readFileSync(GUIDE, 'utf8');
    const shownReport = blocks(guide).find((b) => b.body.startsWith('hitless import: 1 service and 1 registration'));
    assert.ok(shownReport, 'the guide shows the import report');
    const lines = shownReport.body.split('\n').filter((l) => /^(not mapped|note): /.test(l));
    assert.ok(lines.length > 0);
    for (const line of lines) assert.ok(stderr.includes(`${line}\n`), `the guide's report line is printed: ${line}\n--- stderr:\n${stderr}`);
    assert.equal(stderr.split('\n').filter((l) => /^(not mapped|note): /.test(l)).length, lines.length, 'and nothing more');
  });
});
