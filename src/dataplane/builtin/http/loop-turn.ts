// Event-loop turns, for two things.
//
// 1. Telling "bytes that were already on their way" from "an answer". A pooled endpoint
// connection can hold bytes in the kernel that nobody has read yet (an extra or late response):
// Node reads them only at the loop's next poll. So a connection released in this turn is not
// reused in this turn, and on a reused connection, bytes read in the same turn as the request was
// written cannot be its answer (the endpoint has not had it yet).
//
// 2. Writing small, complete messages (a request head, a whole small response) at the end of the
// turn instead of at once. A turn reads many sockets; writing to each peer as its read is handled
// wakes the peer (the endpoint, the client) once per message, and a peer woken for one message
// handles one. Writing them together after the turn's reads lets each peer find several messages
// per wake-up: bench:http measured about a quarter less proxy CPU per request (both user and
// kernel time) and higher throughput. The latency added is the rest of the turn's read handling.
//
// Both cost one setImmediate per loop turn that released, reused or wrote something. The turn's
// writes go out before the turn counter moves on, so a request head held here is written in the
// turn it was started in, and rule 1 still reads "bytes read in that turn are not its answer".

/** Something holding bytes for the end of the turn; writeHeld() is called once per turn at most. */
export interface HeldWriter {
  /** Writes what is held now (idempotent: nothing held, nothing written). */
  writeHeld(): void;
}

let turn = 0;
let scheduled = false;
const writers: HeldWriter[] = [];

function endTurn(): void {
  scheduled = false;
  // By index: a write never calls back synchronously, but a late addition is still written.
  for (let i = 0; i < writers.length; i++) writers[i].writeHeld();
  writers.length = 0;
  turn++;
}

function schedule(): void {
  if (!scheduled) {
    scheduled = true;
    setImmediate(endTurn);
  }
}

/** The current turn, making sure the counter moves on once this turn's callbacks are done. */
export function markTurn(): number {
  schedule();
  return turn;
}

/** The current turn, without scheduling anything. */
export function currentTurn(): number {
  return turn;
}

/** `writer` holds bytes to write at the end of this turn (each writer registers once per held message). */
export function writeAtTurnEnd(writer: HeldWriter): void {
  writers.push(writer);
  schedule();
}
