/**
 * Deterministic workloads: each drives a System through the public process API, sized by `scale`,
 * with every random choice drawn from a seeded Prng. They verify what they read, so a workload
 * that finishes is also a (coarse) correctness check.
 */
import { MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, Prng } from "@vmlab/core";
import type { System } from "@vmlab/kernel";

export interface WorkloadOptions {
  /** Size multiplier (1 = a quick run). */
  scale: number;
  seed: number;
  /** Called as work progresses (done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface WorkloadResult {
  /** Operations performed (loads, stores, system calls). */
  ops: number;
}

export interface Workload {
  readonly name: string;
  readonly description: string;
  run(sys: System, opts: WorkloadOptions): WorkloadResult;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`workload check failed: ${what}`);
}

const pattern = (page: number, gen: number) => (Math.imul(page + 1, 0x9e37_79b1) ^ gen) >>> 0;

/** Sequential first touch of a large anonymous region, then a read-back pass. */
export const seqTouch: Workload = {
  name: "seq-touch",
  description: "mmap an anonymous region, write every page in order, read every page back",
  run(sys, { scale, onProgress }) {
    const pages = 256 * scale;
    const p = sys.spawn();
    const a = p.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < pages; i++) {
      p.store32(a + i * PAGE_SIZE, pattern(i, 0));
      if ((i & 63) === 0) onProgress?.(i, 2 * pages);
    }
    for (let i = 0; i < pages; i++) {
      check(p.load32(a + i * PAGE_SIZE) === pattern(i, 0), `page ${i}`);
      if ((i & 63) === 0) onProgress?.(pages + i, 2 * pages);
    }
    p.exit(0);
    return { ops: 2 * pages + 2 };
  },
};

/** Random word accesses over a region (mostly TLB misses once it exceeds the TLB's reach). */
export const randomTouch: Workload = {
  name: "random-touch",
  description: "random 32-bit loads and stores over an anonymous region",
  run(sys, { scale, seed, onProgress }) {
    const pages = 128 * scale;
    const n = 4096 * scale;
    const rng = new Prng(seed);
    const p = sys.spawn();
    const a = p.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
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
    p.exit(0);
    return { ops: n + 2 };
  },
};

/** A parent with written pages forks; child and parent write half the pages each (copy-on-write). */
export const forkCow: Workload = {
  name: "fork-cow",
  description: "fork a parent with written pages, copy-on-write in child and parent, three generations",
  run(sys, { scale, onProgress }) {
    const pages = 128 * scale;
    let ops = 0;
    const root = sys.spawn();
    const a = root.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < pages; i++) root.store32(a + i * PAGE_SIZE, pattern(i, 0));
    ops += pages;
    let parent = root;
    const chain = [root];
    for (let gen = 1; gen <= 3; gen++) {
      const child = parent.fork();
      for (let i = 0; i < pages; i += 2) child.store32(a + i * PAGE_SIZE, pattern(i, gen));
      for (let i = 1; i < pages; i += 2) parent.store32(a + i * PAGE_SIZE, pattern(i, 100 + gen));
      for (let i = 0; i < pages; i += 2)
        check(child.load32(a + i * PAGE_SIZE) === pattern(i, gen), `gen ${gen} child page ${i}`);
      ops += 2 * pages;
      onProgress?.(gen, 3);
      chain.push(child);
      parent = child;
    }
    for (const p of chain.reverse()) p.exit(0);
    return { ops };
  },
};

export const WORKLOADS: readonly Workload[] = [seqTouch, randomTouch, forkCow];

export function workload(name: string): Workload {
  const w = WORKLOADS.find((x) => x.name === name);
  if (!w)
    throw new RangeError(`unknown workload '${name}'; expected one of ${WORKLOADS.map((x) => x.name).join(", ")}`);
  return w;
}
