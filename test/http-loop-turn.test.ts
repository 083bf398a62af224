// loop-turn.ts on its own: what the endpoint-connection rules rely on. Bytes held for the end of
// a turn are written in that turn (before the counter moves on), in the order they were held, so
// "bytes read in the turn a request was written are not its answer" keeps its meaning when the
// request head is one of them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { currentTurn, markTurn, writeAtTurnEnd } from '../src/dataplane/builtin/http/loop-turn.js';

/** Resolves once the loop has run the turn's end (setImmediate callbacks queued after it run later). */
function nextCheckPhase(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('loop turns', () => {
  it('writes what was held at the end of the turn, in order, before the turn counter moves on', async () => {
    await nextCheckPhase(); // start from a fresh turn
    const heldIn = markTurn();
    const written: Array<{ who: string; turn: number }> = [];
    writeAtTurnEnd({ writeHeld: () => written.push({ who: 'first', turn: currentTurn() }) });
    writeAtTurnEnd({ writeHeld: () => written.push({ who: 'second', turn: currentTurn() }) });
    assert.deepEqual(written, [], 'nothing is written during the turn');
    assert.equal(currentTurn(), heldIn);
    await nextCheckPhase();
    assert.deepEqual(written, [
      { who: 'first', turn: heldIn },
      { who: 'second', turn: heldIn },
    ]);
    assert.equal(currentTurn(), heldIn + 1, 'the counter moved on after the writes');
  });

  it('a turn that held nothing and marked nothing does not move the counter', async () => {
    await nextCheckPhase();
    const before = currentTurn();
    await nextCheckPhase();
    await nextCheckPhase();
    assert.equal(currentTurn(), before);
  });
});
