import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Prng } from "../src/index.js";

function draw(p: Prng, n: number): number[] {
  return Array.from({ length: n }, () => p.nextU32());
}

describe("Prng", () => {
  it("the same seed gives the same sequence", () => {
    expect(draw(new Prng(42), 200)).toEqual(draw(new Prng(42), 200));
  });

  it("different seeds give different sequences", () => {
    expect(draw(new Prng(1), 20)).not.toEqual(draw(new Prng(2), 20));
  });

  it("keeps its seed and rejects a non-integer seed", () => {
    expect(new Prng(7).seed).toBe(7);
    expect(() => new Prng(1.5)).toThrow(new RangeError("seed must be an integer, got 1.5"));
    expect(() => new Prng(Number.NaN)).toThrow(RangeError);
  });

  it("nextU32 returns unsigned 32-bit integers", () => {
    const p = new Prng(3);
    let sawHigh = false;
    for (const x of draw(p, 1000)) {
      expect(Number.isInteger(x)).toBe(true);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(2 ** 32);
      if (x >= 2 ** 31) sawHigh = true;
    }
    expect(sawHigh).toBe(true);
  });

  it("int(lo, hi) stays in range and covers every value", () => {
    const p = new Prng(11);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = p.int(-3, 3);
      expect(x).toBeGreaterThanOrEqual(-3);
      expect(x).toBeLessThanOrEqual(3);
      seen.add(x);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
  });

  it("int(lo, lo) is lo; the full 32-bit span is accepted", () => {
    const p = new Prng(5);
    expect(p.int(9, 9)).toBe(9);
    const x = p.int(0, 2 ** 32 - 1);
    expect(x).toBeGreaterThanOrEqual(0);
    expect(x).toBeLessThanOrEqual(2 ** 32 - 1);
  });

  it("property: int(lo, hi) returns an integer in [lo, hi] for any seed and range", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (seed, lo, width) => {
          const p = new Prng(seed);
          const hi = lo + width;
          for (let i = 0; i < 20; i++) {
            const x = p.int(lo, hi);
            expect(Number.isInteger(x)).toBe(true);
            expect(x).toBeGreaterThanOrEqual(lo);
            expect(x).toBeLessThanOrEqual(hi);
          }
        },
      ),
    );
  });

  it("bad ranges throw RangeError", () => {
    const p = new Prng(1);
    expect(() => p.int(5, 4)).toThrow(new RangeError("bad range [5, 4]"));
    expect(() => p.int(0, 2 ** 32)).toThrow(new RangeError(`bad range [0, ${2 ** 32}]`));
    expect(() => p.int(0, Number.NaN)).toThrow(RangeError);
    expect(() => p.int(0, 1.5)).toThrow(new RangeError("bad range [0, 1.5]"));
    expect(() => p.int(0.5, 3)).toThrow(RangeError);
    expect(() => p.chance(1, 0)).toThrow(RangeError);
  });

  it("chance(0, n) is never true, chance(n, n) always", () => {
    const p = new Prng(8);
    for (let i = 0; i < 100; i++) {
      expect(p.chance(0, 4)).toBe(false);
      expect(p.chance(4, 4)).toBe(true);
    }
  });

  it("pick returns every element over enough draws, deterministically; empty throws", () => {
    const items = ["a", "b", "c", "d"] as const;
    const p = new Prng(21);
    const q = new Prng(21);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const x = p.pick(items);
      expect(items).toContain(x);
      expect(q.pick(items)).toBe(x);
      seen.add(x);
    }
    expect([...seen].sort()).toEqual(["a", "b", "c", "d"]);
    expect(() => p.pick([])).toThrow(new RangeError("pick from an empty list"));
  });

  it("fork: deterministic, a stream of its own, and drawing from it leaves the parent untouched", () => {
    const p1 = new Prng(99);
    const p2 = new Prng(99);
    const f1 = p1.fork();
    const f2 = p2.fork();
    expect(f1.seed).toBe(f2.seed);
    const fromFork = draw(f1, 50);
    expect(fromFork).not.toEqual(draw(p2, 50)); // not the parent's continuation
    expect(draw(p1, 50)).not.toEqual(fromFork);
    // p1's fork was drained by 50 draws, p2's not at all: the parents still agree.
    const p3 = new Prng(99);
    p3.fork();
    draw(p3, 50);
    expect(draw(p1, 50)).toEqual(draw(p3, 50));
    expect(draw(f2, 50)).toEqual(fromFork);
  });
});
