// `hitless bench torture --token`: its apply action reaches a hitless whose admin API requires a
// token (issue 15, packaging). Against a real `hitless run`, for one second.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startEchoServer, type EchoServer } from './helpers/echo-server.js';
import { HitlessProcess } from './helpers/hitless-process.js';
import { reservePort } from './helpers/ports.js';

const TOKEN = 'torture-token-0123456789';

interface Suite {
  targets: Array<{ actions: { attempted: number; ok: number; failed: number; errorSamples: string[] } }>;
}

describe('hitless bench torture --token', () => {
  let h: HitlessProcess;
  let echo: EchoServer;
  let port: number;
  let configs: string;

  before(async () => {
    echo = await startEchoServer();
    port = await reservePort();
    const config = (admin: string, weight: number) =>
      `admin: { listen: "${admin}", token: ${TOKEN} }\nservices:\n  s:\n    mode: http\n    listen: 127.0.0.1:${port}\n    endpoints: [{ address: "${echo.address}", weight: ${weight} }]\n`;
    h = await HitlessProcess.start({ workers: 0, config: (admin) => config(admin, 1) });
    writeFileSync(join(h.dir, 'a.yaml'), config(h.admin, 1));
    writeFileSync(join(h.dir, 'b.yaml'), config(h.admin, 2));
    configs = `${join(h.dir, 'a.yaml')},${join(h.dir, 'b.yaml')}`;
  });
  after(async () => {
    await h?.kill();
    await echo?.close();
  });

  const torture = async (...extra: string[]): Promise<Suite['targets'][0]['actions']> => {
    const args = ['bench', 'torture', '--http', `127.0.0.1:${port}`, '--action', 'apply', '--admin', h.admin, '--apply-configs', configs, '--duration', '1', '--baseline', '0', '--rate', '5', '--max-actions', '3', '--new-conn', '0', '--keep-alive', '0', '--long-lived', '0', '--json', ...extra];
    const r = await runCli(args, 60_000);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Suite).targets[0].actions;
  };

  it('applies through an admin API that requires a token; without it every apply is refused', async () => {
    const withToken = await torture('--token', TOKEN);
    assert.ok(withToken.ok >= 1, JSON.stringify(withToken));
    assert.equal(withToken.failed, 0, JSON.stringify(withToken));
    const applied = (await h.request('GET', '/status', undefined, { authorization: `Bearer ${TOKEN}` })).json<{ applies: Array<{ origin: string; result: string }> }>();
    assert.equal(applied.applies.filter((a) => a.origin === 'admin' && a.result === 'applied').length, withToken.ok);

    const without = await torture();
    assert.equal(without.ok, 0);
    assert.ok(without.failed >= 1, JSON.stringify(without));
    assert.match(without.errorSamples[0] ?? '', /401 HITLESS_ERR_UNAUTHORIZED/);
  });
});
