/**
 * The one source of randomness in a simulation: a seeded xoroshiro128+ from pure-rand. Every
 * random choice (interrupt injection, workload addresses, property tests' helpers) draws from a
 * Prng, so (combination, configuration, seed) replays a run exactly.
 */

import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";

export class Prng {
  private readonly gen: JumpableRandomGenerator;

  constructor(readonly seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    this.gen = xoroshiro128plus(seed | 0);
  }

  /** A uniform unsigned 32-bit integer. */
  nextU32(): number {
    return this.gen.next() >>> 0;
  }

  /** A uniform integer in [lo, hi] (inclusive), hi - lo < 2^32. */
  int(lo: number, hi: number): number {
    const span = hi - lo + 1;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || !(span >= 1) || span > 0x1_0000_0000) {
      throw new RangeError(`bad range [${lo}, ${hi}]`);
    }
    // Rejection sampling keeps the distribution exact.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % span);
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return lo + (r % span);
    }
  }

  /** True with probability num/den. */
  chance(num: number, den: number): boolean {
    return this.int(0, den - 1) < num;
  }

  /** A uniformly chosen element. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(0, items.length - 1)] as T;
  }

  /** An independent generator derived from this one (for a sub-system that needs its own stream). */
  fork(): Prng {
    return new Prng(this.gen.next());
  }
}
