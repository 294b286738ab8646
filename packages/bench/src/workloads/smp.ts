/** SMP: threads on several CPUs share an address space while one of them munmaps and mprotects. */
import { MAP_ANON, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, Prng } from "@vmlab/core";
import type { ProcessApi } from "@vmlab/kernel";
import { check, expectSignal, pattern, type Workload } from "../workload.js";

const RW = PROT_READ | PROT_WRITE;
const CPUS = 4;
/** Region pages (fits every TLB modelled, so the other CPUs really hold the translations). */
const PAGES = 32;
/** Pages changed per mprotect / munmap. */
const CHUNK = 4;

/**
 * Four threads of one process, one per CPU, read the whole region each round, so every CPU's
 * TLB holds its translations. Then the thread on CPU 0 downgrades a chunk to read-only and
 * another thread's write must fault (a missed shootdown would let it through a stale writable
 * entry); the chunk is made writable again and written by that thread, the others read it;
 * then CPU 0 unmaps another chunk, a third thread's read must fault, and the chunk is mapped
 * again (MAP_FIXED, zero-filled) and checked from every CPU. 64 × scale rounds.
 */
export const smpShootdown: Workload = {
  name: "smp-shootdown",
  description: `threads on ${CPUS} CPUs share memory while one mprotects and munmaps it (TLB shootdowns)`,
  system: () => ({ cpus: CPUS }),
  run(sys, { scale, seed, onProgress, sample }) {
    const rounds = 64 * scale;
    const rng = new Prng(seed);
    const p = sys.spawn();
    const cpus = Math.min(CPUS, sys.machine.cpus.length);
    const threads: ProcessApi[] = [p];
    for (let c = 1; c < cpus; c++) threads.push(p.newThread({ cpu: c }));
    const a = p.mmap(0, PAGES * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    const want = new Uint32Array(PAGES);
    for (let i = 0; i < PAGES; i++) {
      want[i] = pattern(i, 0);
      p.store32(a + i * PAGE_SIZE, want[i] as number);
    }
    let ops = PAGES + 1 + cpus;
    const other = () => threads[rng.int(1, threads.length - 1)] as ProcessApi;
    const readAll = () => {
      for (const t of threads) {
        for (let i = 0; i < PAGES; i++) check(t.load32(a + i * PAGE_SIZE) === want[i], `thread ${t.pid} page ${i}`);
      }
      ops += threads.length * PAGES;
    };
    for (let r = 0; r < rounds; r++) {
      readAll();
      // mprotect to read-only: another CPU's write must fault.
      const c1 = rng.int(0, PAGES / CHUNK - 1) * CHUNK;
      const va1 = a + c1 * PAGE_SIZE;
      p.mprotect(va1, CHUNK * PAGE_SIZE, PROT_READ);
      const w = threads.length > 1 ? other() : p;
      const e = expectSignal(() => w.store32(va1, 0xbad), `write to a read-only page on another CPU (round ${r})`);
      check(e.signal === "SIGSEGV" || e.signal === "SIGBUS", `write to read-only page: ${e.signal}`);
      p.mprotect(va1, CHUNK * PAGE_SIZE, RW);
      for (let i = 0; i < CHUNK; i++) {
        want[c1 + i] = pattern(c1 + i, r + 1);
        w.store32(va1 + i * PAGE_SIZE, want[c1 + i] as number);
      }
      readAll();
      // munmap: another CPU's read must fault; the chunk comes back zero-filled.
      const c2 = rng.int(0, PAGES / CHUNK - 1) * CHUNK;
      const va2 = a + c2 * PAGE_SIZE;
      p.munmap(va2, CHUNK * PAGE_SIZE);
      const rd = threads.length > 1 ? other() : p;
      const f = expectSignal(() => rd.load32(va2), `read of an unmapped page on another CPU (round ${r})`);
      check(f.signal === "SIGSEGV", `read of unmapped page: ${f.signal}`);
      check(p.mmap(va2, CHUNK * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0) === va2, "MAP_FIXED remap");
      for (let i = 0; i < CHUNK; i++) want[c2 + i] = 0;
      ops += 8 + CHUNK;
      if (r === 0) sample?.();
      if ((r & 7) === 0) onProgress?.(r, rounds);
    }
    readAll();
    p.exit(0);
    return { ops: ops + 1 };
  },
};
