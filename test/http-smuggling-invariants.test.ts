// Request smuggling and response poisoning, as invariants (issue 13, DESIGN.md invariant 8), over
// a fixed-seed subset of the generated corpus that `npm run fuzz` runs for minutes. hitless runs
// from the current src/ (tsx, one process) in front of four raw logging endpoints, one per
// cluster; victim clients (three on the raw HTTP/1.1 path, one on the node:http path) keep sending
// normal keep-alive requests to every cluster, sharing the pooled endpoint connections, while each
// case's attacker connection sends a generated request (both request paths) and, in some cases,
// the endpoint answers it maliciously. Whatever the attacker or an endpoint sends:
//  I1 every response a client receives is its own (no other client's, no evil endpoint's extra bytes);
//  I2 every request an endpoint parses is one hitless routed: a known id, parsed once, with the
//     forwarding headers hitless adds, at the cluster the route table gives for it;
//  I3 every request at an endpoint has one framing header and exactly one Host (matching an
//     absolute-form authority), and no h2c upgrade reaches an endpoint;
//  I4 the attacker's connection gets no more responses than it sent requests, nothing after a
//     response that said close, no endpoint's unsolicited response, no response merged into another.
// Failures print the invariant, the case's seed, the request path, and the exact bytes; replay one
// with `FUZZ_SEED=<seed> FUZZ_CASES=1 npm run fuzz`. Where HAProxy is installed, every case whose
// requests hitless forwarded is also sent through HAProxy, and the requests hitless forwards while
// HAProxy refuses them are printed (documented differences in docs/security.md, or bugs).
// SMUGGLE_CASES (default 300) and SMUGGLE_SEED change the subset.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EVIL_MODES, FAMILY_NAMES, generateCase, type SmuggleCase } from './helpers/smuggle-corpus.js';
import { describeFailure, differentialFindings, runLanes, SmuggleHarness, summaryLines, type Failure } from './helpers/smuggle-harness.js';

const CASES = Number(process.env.SMUGGLE_CASES ?? 300);
const SEED = Number(process.env.SMUGGLE_SEED ?? 0x534d47);
const CONCURRENCY = 8;
/** Cases also sent through HAProxy (those whose requests hitless forwarded, evil endpoints aside). */
const DIFFERENTIAL_CASES = 150;

function report(failures: readonly Failure[]): string {
  const firsts = new Map<string, Failure>();
  for (const f of failures) {
    const key = `${f.cls}: ${f.sub}`;
    if (!firsts.has(key)) firsts.set(key, f);
  }
  const lines = [...firsts.values()].map((f) => `${failures.filter((x) => x.cls === f.cls && x.sub === f.sub).length} x ${describeFailure(f)}`);
  // Kept short: node:test's reporter is slow on very long assertion messages.
  const text = lines.join('\n\n');
  return text.length > 12_000 ? `${text.slice(0, 12_000)}\n... (${text.length} characters)` : text;
}

describe('HTTP smuggling invariants (I1-I4) on generated cases', () => {
  const harness = new SmuggleHarness({ haproxy: true, log: () => {} });
  const started = performance.now();

  before(async () => {
    await harness.start();
  });

  after(async () => {
    await harness.stop();
  });

  async function run(cases: readonly SmuggleCase[], differential: boolean): Promise<void> {
    let i = 0;
    let compared = 0;
    await runLanes(CONCURRENCY, performance.now() + 120_000, () => cases[i++] ?? null, async (c) => {
      const result = await harness.runCase(c);
      if (differential && harness.haproxy !== null && c.evil === null && compared < DIFFERENTIAL_CASES && harness.forwarded(c).length > 0) {
        compared++;
        await harness.runHaproxy(c, generateCase(c.seed, { ns: 'h' }), result);
      }
    });
    harness.kickVictims(8);
    await harness.victimsIdle();
    harness.settle(0);
  }

  it(`holds over ${CASES} fixed-seed cases from every family, on both request paths`, async () => {
    const cases = Array.from({ length: CASES }, (_, i) => generateCase(SEED + i));
    await run(cases, true);
    for (const line of summaryLines(harness, (performance.now() - started) / 1000, SEED)) console.log(line);
    assert.equal(harness.failures.length, 0, `invariant failures:\n${report(harness.failures)}`);
    // The generator is doing its job: both paths, every family, and most cases reach an endpoint.
    assert.ok(harness.casesByShape.raw >= CASES * 0.2 && harness.casesByShape.node >= CASES * 0.2, `shapes: ${JSON.stringify(harness.casesByShape)}`);
    const families = new Set(cases.map((c) => c.family.split('/')[0]));
    assert.deepEqual([...families].sort(), [...FAMILY_NAMES].sort());
    const forwarded = cases.filter((c) => harness.forwarded(c).length > 0).length;
    assert.ok(forwarded >= CASES * 0.4, `only ${forwarded} of ${CASES} cases reached an endpoint: the generator mutates too much`);
    assert.ok(harness.victimRequests >= CASES, `only ${harness.victimRequests} victim requests: the victims did not share the endpoints' pools`);
  });

  it('holds for every malicious endpoint answer, on both request paths', async () => {
    const before = harness.failures.length;
    const cases: SmuggleCase[] = [];
    let seed = SEED + 1_000_000;
    for (const evil of EVIL_MODES.filter((m) => m !== 'upgrade-200' && m !== 'upgrade-200-raw')) {
      for (const shape of ['raw', 'node'] as const) for (let k = 0; k < 3; k++) cases.push(generateCase(seed++, { family: 'evil', evil, shape }));
    }
    for (let k = 0; k < 24; k++) cases.push(generateCase(seed++, { family: 'upgrade' }));
    await run(cases, false);
    const mine = harness.failures.slice(before);
    assert.equal(mine.length, 0, `invariant failures:\n${report(mine)}`);
  });

  it('prints what hitless forwards and HAProxy refuses (the differential)', (t) => {
    if (harness.haproxy === null) {
      t.skip(harness.haproxyNote);
      return;
    }
    const { hitlessOnly, haproxyOnly } = differentialFindings(harness);
    console.log(`HAProxy differential: ${harness.differential.length} cases sent to both; hitless forwarded what HAProxy refused in ${hitlessOnly.length}; HAProxy forwarded what hitless refused in ${haproxyOnly.length} (see the summary above)`);
    assert.ok(harness.differential.length > 0, 'no case was sent through HAProxy');
  });
});
