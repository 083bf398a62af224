// Whether a discovered set may replace the one in effect. Two guards:
//  - min_endpoints (absolute): a set smaller than this is held;
//  - max_drop_percent (relative): a set that would drop more than this share of the reference
//    set is held. The reference is the last set the source reported without malformed entries
//    (or any larger set applied since): entries that turn malformed one at a time lower the set
//    in effect step by step, but never the reference, so the service never falls below the
//    guard however the damage is spread over reports.
// A held drop reported cleanly (no malformed entries) is a registry that really holds fewer
// endpoints (a scale-down, instances gone): it is applied once it has stayed the same for
// drop_hold. A drop that comes with malformed entries is held until they are fixed: those
// endpoints are still registered, only unreadable.
import type { DiscoveryConfig } from '../config/discovery-model.js';

export type Verdict =
  | { readonly hold: false }
  /** `expires`: applied after drop_hold if the source keeps reporting it unchanged. */
  | { readonly hold: true; readonly reason: string; readonly expires: boolean };

const PASS: Verdict = Object.freeze({ hold: false });

export class SetGuard {
  /** The size drops are measured against; null before the first set is applied. */
  private referenceSize: number | null = null;

  get reference(): number | null {
    return this.referenceSize;
  }

  /** `size`: the reported set's; `clean`: reported without malformed entries; `inEffect`: the set applied now (null: none yet). */
  judge(size: number, clean: boolean, inEffect: number | null, config: DiscoveryConfig): Verdict {
    if (size < config.minEndpoints) {
      const held = inEffect === null ? 'the static endpoints stay' : `holding the last known good ${inEffect}`;
      return { hold: true, reason: `the source reports ${size} endpoint(s), fewer than min_endpoints ${config.minEndpoints}; ${held}`, expires: false };
    }
    const reference = this.referenceSize;
    if (reference === null || inEffect === null) return PASS;
    const dropped = reference - size;
    // Integers only: "more than p % of the reference" without rounding.
    if (dropped <= 0 || dropped * 100 <= config.maxDropPercent * reference) return PASS;
    const malformed = clean ? '' : ' (some entries are malformed: held until they are fixed)';
    return {
      hold: true,
      reason: `the source reports ${size} endpoint(s), ${dropped} fewer than the reference set of ${reference}: more than max_drop_percent ${config.maxDropPercent}%${malformed}; holding the ${inEffect} in effect`,
      expires: clean,
    };
  }

  /** A set of `size` was applied. */
  applied(size: number, clean: boolean): void {
    const reference = this.referenceSize;
    this.referenceSize = clean || reference === null ? size : Math.max(reference, size);
  }
}
