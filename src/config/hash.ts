// The hashes config identities are made of: SHA-256 of a text, and a hash tree whose root is
// updated per changed leaf (the discovery assembler's config hash).
import * as crypto from 'node:crypto';

const { createHash } = crypto;
/**
 * crypto.hash (Node 20.12+) hashes in one call, several times cheaper than a Hash object for the
 * short texts identities are made of (a discovery apply hashes a few of them). A namespace read,
 * not a named import: on an older Node 20 it is absent, and a named import would not even load.
 */
const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined;

/** SHA-256 of a text, hex: the one text hash (config ETags, service identities, assembled configs). */
export function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');
}

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest();
}

/**
 * A binary hash tree over a fixed number of leaves (a Merkle tree): its root names the content
 * of every leaf, and changing k leaves costs k·log2(n) hashes instead of rehashing all n.
 * Leaves and inner nodes are hashed with different prefixes; an odd node is promoted unchanged.
 */
export class HashTree {
  /** levels[0] holds the leaf hashes, the last level the root. */
  private readonly levels: Buffer[][];

  constructor(leaves: readonly string[]) {
    let level = leaves.map((l) => sha256(LEAF, Buffer.from(l)));
    this.levels = [level];
    while (level.length > 1) {
      const up: Buffer[] = [];
      for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? sha256(NODE, level[i], level[i + 1]) : level[i]);
      this.levels.push((level = up));
    }
  }

  get size(): number {
    return this.levels[0].length;
  }

  set(index: number, leaf: string): void {
    if (index < 0 || index >= this.size) throw new RangeError(`leaf ${index} is outside a tree of ${this.size}`);
    this.levels[0][index] = sha256(LEAF, Buffer.from(leaf));
    for (let l = 1, i = index >> 1; l < this.levels.length; l++, i >>= 1) {
      const below = this.levels[l - 1];
      this.levels[l][i] = 2 * i + 1 < below.length ? sha256(NODE, below[2 * i], below[2 * i + 1]) : below[2 * i];
    }
  }

  /** Hex digest of the whole tree (of nothing, for a tree without leaves). */
  get root(): string {
    return (this.levels.at(-1)![0] ?? sha256(NODE)).toString('hex');
  }
}
