/** Kernel malloc churn: multi-page kmem allocations and frees, driven as kernel code on CPU 0. */
import { PAGE_SIZE, Prng } from "@vmlab/core";
import type { System } from "@vmlab/kernel";
import { check, pattern, type Workload } from "../workload.js";

type Cpu = System["machine"]["cpus"][number];

/** Largest allocation, in pages. */
const MAX_PAGES = 8;

interface Block {
  va: number;
  pages: number;
  tag: number;
}

/**
 * kmem_malloc / kmem_free churn: 4,096 × scale seeded steps keep up to 64 × scale multi-page
 * blocks (1 to 8 pages) live, allocating while below the target and freeing a random block
 * otherwise — the fragmentation of kernel_map (Mach, UVM) or the kmem arena (FreeBSD) and the
 * kernel pmap's enter/remove churn. Each block's pages are written through the MMU in kernel
 * mode when allocated and checked before they are freed.
 */
export const kmemChurn: Workload = {
  name: "kmem-churn",
  description: "multi-page kernel allocations and frees (kmem_malloc/kmem_free) with contents checked",
  run(sys, { scale, seed, onProgress, sample }) {
    const steps = 4096 * scale;
    const target = 64 * scale;
    const rng = new Prng(seed);
    const cpu = sys.machine.cpus[0] as Cpu;
    const live: Block[] = [];
    let ops = 0;
    let tags = 0;
    const write = (b: Block) => {
      for (let i = 0; i < b.pages; i++) {
        check(cpu.store32(b.va + i * PAGE_SIZE, pattern(b.tag, i), false), `kernel store at block ${b.tag} page ${i}`);
      }
    };
    const verify = (b: Block) => {
      for (let i = 0; i < b.pages; i++) {
        check(cpu.load32(b.va + i * PAGE_SIZE, false) === pattern(b.tag, i), `kernel load at block ${b.tag} page ${i}`);
      }
    };
    sys.machine.runOn(cpu, () => {
      for (let s = 0; s < steps; s++) {
        if (live.length === 0 || (live.length < target && rng.chance(3, 5))) {
          const pages = rng.int(1, MAX_PAGES);
          const va = sys.vm.kmemAlloc(pages * PAGE_SIZE);
          check(va !== 0, `kmem_alloc of ${pages} pages at step ${s}`);
          const b = { va, pages, tag: tags++ };
          write(b);
          live.push(b);
          ops += 1 + pages;
        } else {
          const i = rng.int(0, live.length - 1);
          const b = live[i] as Block;
          live[i] = live[live.length - 1] as Block;
          live.pop();
          verify(b);
          sys.vm.kmemFree(b.va, b.pages * PAGE_SIZE);
          ops += 1 + b.pages;
        }
        if (s === steps >> 1) sample?.();
        if ((s & 127) === 0) onProgress?.(s, steps);
      }
      for (const b of live) {
        verify(b);
        sys.vm.kmemFree(b.va, b.pages * PAGE_SIZE);
        ops += 1 + b.pages;
      }
    });
    return { ops };
  },
};
