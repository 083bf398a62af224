// An upgrade storm: 50 code upgrades in a row while long-lived connections keep arriving. At
// most one generation is the draining one (a newer upgrade cuts the previous drain short: it runs
// on to its own deadline, and the next upgrade waits for it to exit), so the process count and the
// memory per process stay flat instead of growing with every upgrade. The long-lived connections
// move; one that cannot be quiesced in time drains until its own --upgrade-drain.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MixedLoad, summarize } from './helpers/process-load.js';
import { mixedProcessSuite } from './helpers/process-backends.js';
import { sleep } from './helpers/wait.js';

const WORKERS = 2;
const UPGRADES = 50;
const MB = 1024 * 1024;

describe('process model: upgrade storm', () => {
  const suite = mixedProcessSuite();

  it(`${UPGRADES} upgrades in a row with long-lived connections arriving throughout: processes and RSS stay bounded`, async () => {
    const { h: sh, ports } = await suite.start({ workers: WORKERS });
    const load = new MixedLoad({ httpPort: ports.http, tcpPort: ports.tcp, longLived: 0 });
    // A new long-lived connection every 50 ms, each kept open (pinging) until the end.
    let arriving = true;
    const arrivals: Promise<unknown>[] = [];
    const opener = (async () => {
      while (arriving) {
        arrivals.push(load.longLived(() => !arriving));
        await sleep(50);
      }
    })();
    const samples: Array<{ processes: number; rssMb: number }> = [];
    for (let i = 0; i < UPGRADES; i++) {
      const res = await sh.upgrade();
      assert.equal(res.status, 200, `upgrade ${i + 1}: ${res.text}`);
      const { processes, rssBytes } = await sh.treeRss();
      samples.push({ processes, rssMb: Math.round(rssBytes / MB) });
    }
    arriving = false;
    await opener;
    await Promise.all(arrivals);
    const report = await load.stop();
    const s = await sh.status();
    const procs = samples.map((x) => x.processes);
    const rss = samples.map((x) => x.rssMb);
    const avg = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
    console.log(
      `storm of ${UPGRADES} upgrades (${WORKERS} workers): processes min ${Math.min(...procs)} max ${Math.max(...procs)} last ${procs.at(-1)}; ` +
        `RSS total MB min ${Math.min(...rss)} max ${Math.max(...rss)} first-10 avg ${avg(rss.slice(0, 10))} last-10 avg ${avg(rss.slice(-10))}; ` +
        `${summarize(report)}; handed over ${s.process.upgrades.handedOffConnections}; tunnels moved ${s.process.upgrades.movedConnections}, drained ${s.process.upgrades.drainedConnections}, lost ${s.process.upgrades.lostConnections}`,
    );
    // Supervisor + active + draining + the new one being started: never more.
    assert.ok(Math.max(...procs) <= 1 + 3 * WORKERS, `processes ${procs.join(',')}`);
    // Per process: long-lived connections now move to each new generation instead of being closed
    // by the next upgrade, so more of them are alive (and more generations are still moving them
    // when a sample is taken) late in the storm than early; a leak would still show per process.
    const perProcess = samples.map((x) => x.rssMb / x.processes);
    assert.ok(avg(perProcess.slice(-10)) <= avg(perProcess.slice(0, 10)) * 1.5, `RSS per process grew: ${perProcess.map(Math.round).join(',')}`);
    assert.equal(report.newConnection.failed + report.newConnection.refused + report.keepAlive.failed + report.keepAlive.refused, 0, summarize(report));
    assert.equal(report.longLived.failed + report.longLived.refused, 0, summarize(report));
  });
});
