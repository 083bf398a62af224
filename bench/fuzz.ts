// npm run fuzz — the long run of the HTTP smuggling invariant harness (issue 13, DESIGN.md
// invariant 8): hitless from the current src/ (one process) in front of four logging endpoints,
// victims on keep-alive connections, and generated attacker cases (test/helpers/smuggle-corpus.ts)
// on concurrent lanes until FUZZ_SECONDS have passed and at least FUZZ_MIN_CASES cases ran. Prints
// the count of cases, of cross-client responses, of unrouted requests at the endpoint, of the
// other invariant failures, and the HAProxy differential (hitless forwarding what HAProxy refuses).
// Each distinct failure is then replayed alone to tell whether it is its own case's.
//
// Environment: FUZZ_SECONDS (120), FUZZ_MIN_CASES (10000; the run goes on past FUZZ_SECONDS until
// then, at most 3x as long), FUZZ_SEED (first case seed; default from the clock, printed),
// FUZZ_CASES (stop after this many), FUZZ_CONCURRENCY (8), FUZZ_FAMILY (one family only),
// FUZZ_HAPROXY (1; 0 = no differential), FUZZ_FINDINGS (append each distinct failure to this
// markdown file as it is found), SMUGGLE_HITLESS_ROOT (run hitless from another checkout).
// Replay one case: FUZZ_SEED=<seed> FUZZ_CASES=1. Exit code 1 when an invariant failed.
import { generateCase, type SmuggleCase } from '../test/helpers/smuggle-corpus.js';
import { describeFailure, runLanes, SmuggleHarness, summaryLines, type Failure } from '../test/helpers/smuggle-harness.js';
import { hitlessRoot } from '../test/helpers/smuggle-processes.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 120);
const MIN_CASES = Number(process.env.FUZZ_MIN_CASES ?? 10_000);
const MAX_CASES = Number(process.env.FUZZ_CASES ?? Infinity);
const SEED = Number(process.env.FUZZ_SEED ?? (Date.now() % 1_000_000_000));
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 8);
const FAMILY = process.env.FUZZ_FAMILY || undefined;
const HAPROXY = process.env.FUZZ_HAPROXY !== '0';
const REPLAYS = 12;

async function main(): Promise<number> {
  const harness = new SmuggleHarness({ haproxy: HAPROXY, findingsFile: process.env.FUZZ_FINDINGS ?? null });
  console.log(`fuzz: hitless from ${hitlessRoot()}src (tsx, --workers 0); first seed ${SEED}; ${SECONDS} s and at least ${Math.min(MIN_CASES, MAX_CASES)} cases; ${CONCURRENCY} lanes${FAMILY ? `; family ${FAMILY}` : ''}`);
  await harness.start();
  let exit = 0;
  try {
    const started = performance.now();
    const soft = started + SECONDS * 1000;
    const hard = started + 3 * SECONDS * 1000;
    let next = 0;
    let lastReport = started;
    await runLanes(CONCURRENCY, hard, () => {
      const now = performance.now();
      if (next >= MAX_CASES || (now > soft && next >= MIN_CASES)) return null;
      if (now - lastReport > 10_000) {
        lastReport = now;
        const h = harness.headline();
        console.log(`  ${((now - started) / 1000).toFixed(0)} s: ${harness.cases} cases, cross-client ${h.crossClient}, unrouted ${h.unrouted}, framing ${h.framing}, attacker ${h.attacker}`);
      }
      return generateCase(SEED + next++, { family: FAMILY });
    }, async (c) => {
      const result = await harness.runCase(c);
      // The differential only matters where hitless forwarded something; evil endpoints are hitless's alone.
      if (harness.haproxy !== null && c.evil === null && harness.forwarded(c).length > 0) {
        await harness.runHaproxy(c, generateCase(c.seed, { ns: 'h', family: FAMILY }), result);
      }
    });
    harness.kickVictims(8);
    await harness.victimsIdle();
    harness.settle(0);
    const seconds = (performance.now() - started) / 1000;
    for (const line of summaryLines(harness, seconds, SEED)) console.log(line);
    if (harness.cases < MIN_CASES && MAX_CASES >= MIN_CASES) console.log(`  note: only ${harness.cases} cases ran (FUZZ_MIN_CASES ${MIN_CASES}): the machine is slow or FUZZ_SECONDS too short`);
    if (harness.failures.length > 0) {
      exit = 1;
      await replayDistinct(harness);
    }
  } finally {
    await harness.stop();
  }
  return exit;
}

/** The first failure of each kind, replayed alone (fresh ids), with its description. */
async function replayDistinct(harness: SmuggleHarness): Promise<void> {
  const firsts = new Map<string, Failure>();
  for (const f of harness.failures) {
    const key = `${f.cls}: ${f.sub} / ${f.culprit?.family ?? '?'}`;
    if (!firsts.has(key)) firsts.set(key, f);
  }
  console.log(`\ndistinct failures: ${firsts.size}; the first ${Math.min(REPLAYS, firsts.size)} replayed alone:`);
  let i = 0;
  for (const [key, f] of firsts) {
    let verdict = 'not replayed';
    if (i < REPLAYS && f.culprit !== null) {
      const ns = 'mnopqrstu'[i % 9];
      const again: SmuggleCase = generateCase(f.culprit.seed, { ns, family: FAMILY });
      const caused = await harness.replayAlone(again);
      verdict = caused.length === 0 ? 'did not reproduce alone (a concurrency effect, or a race)' : `reproduced alone: ${[...new Set(caused.map((x) => `${x.cls}: ${x.sub}`))].join('; ')}`;
    }
    i++;
    console.log(`\n${key}\n  ${verdict}\n${describeFailure(f).replace(/^/gm, '  ')}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
