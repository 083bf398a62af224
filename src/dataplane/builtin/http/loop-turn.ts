// Event-loop turns, to tell "bytes that were already on their way" from "an answer". A pooled
// endpoint connection can hold bytes in the kernel that nobody has read yet (an extra or late
// response): Node reads them only at the loop's next poll. So a connection released in this turn
// is not reused in this turn, and on a reused connection, bytes read in the same turn as the
// request was written cannot be its answer (the endpoint has not had it yet). Both checks are
// O(1) and cost at most one setImmediate per loop turn that released or reused a connection.

let turn = 0;
let scheduled = false;

function advance(): void {
  scheduled = false;
  turn++;
}

/** The current turn, making sure the counter moves on once this turn's callbacks are done. */
export function markTurn(): number {
  if (!scheduled) {
    scheduled = true;
    setImmediate(advance);
  }
  return turn;
}

/** The current turn, without scheduling anything. */
export function currentTurn(): number {
  return turn;
}
