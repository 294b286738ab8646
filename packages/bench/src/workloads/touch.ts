/**
 * Touching large anonymous regions: a sequential first touch followed by read sweeps (the TLB's
 * reach decides the sweeps' cost, and superpages multiply it), and seeded random word accesses.
 */
import { MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, Prng } from "@vmlab/core";
import { check, pattern, phaseOf, type Workload } from "../workload.js";

const RW = PROT_READ | PROT_WRITE;

/** Read sweeps after the first touch. */
const SWEEPS = 4;

/**
 * Sequential touch: mmap 1,024 × scale pages (4 MiB each: a whole number of superpages on every
 * machine), write one word per page in order, then read every page back in SWEEPS sweeps. The
 * sweeps' TLB misses are reported on their own (`sweep.tlb.miss`): once the region is
 * populated, they are what a superpage saves.
 */
export const seqTouch: Workload = {
  name: "seq-touch",
  description: `mmap an anonymous region, write every page in order, read it back in ${SWEEPS} sweeps`,
  run(sys, { scale, onProgress, sample }) {
    const pages = 1024 * scale;
    const total = pages * (1 + SWEEPS);
    const p = sys.spawn();
    const a = p.mmap(0, pages * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < pages; i++) {
      p.store32(a + i * PAGE_SIZE, pattern(i, 0));
      if ((i & 255) === 0) onProgress?.(i, total);
    }
    sample?.();
    const sweeps = phaseOf(sys);
    for (let s = 0; s < SWEEPS; s++) {
      for (let i = 0; i < pages; i++) {
        check(p.load32(a + i * PAGE_SIZE) === pattern(i, 0), `sweep ${s} page ${i}`);
        if ((i & 255) === 0) onProgress?.(pages * (1 + s) + i, total);
      }
    }
    const d = sweeps();
    p.exit(0);
    return {
      ops: total + 2,
      metrics: {
        ...(d["tlb.miss"] !== undefined ? { "sweep.tlb.miss": d["tlb.miss"] } : {}),
        ...(d["cpu.cycles"] !== undefined ? { "sweep.cycles": d["cpu.cycles"] } : {}),
      },
    };
  },
};

/** Random word accesses over a region (mostly TLB misses once it exceeds the TLB's reach). */
export const randomTouch: Workload = {
  name: "random-touch",
  description: "seeded random 32-bit loads and stores over an anonymous region, checked against a shadow copy",
  run(sys, { scale, seed, onProgress, sample }) {
    const pages = 512 * scale;
    const n = 8192 * scale;
    const rng = new Prng(seed);
    const p = sys.spawn();
    const a = p.mmap(0, pages * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    const shadow = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const off = rng.int(0, pages * 1024 - 1) * 4;
      if (rng.chance(1, 2)) {
        const v = rng.nextU32();
        p.store32(a + off, v);
        shadow.set(off, v);
      } else check(p.load32(a + off) === (shadow.get(off) ?? 0), `word at +${off}`);
      if ((i & 255) === 0) onProgress?.(i, n);
    }
    sample?.();
    p.exit(0);
    return { ops: n + 2 };
  },
};
