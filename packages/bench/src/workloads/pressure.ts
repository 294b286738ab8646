/** Memory pressure: a working set larger than RAM, so the pageout daemon swaps and faults swap back in. */
import { MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import { check, pattern, type Workload } from "../workload.js";

const RW = PROT_READ | PROT_WRITE;
/** RAM of the machine this workload runs on. */
const MEMORY_MIB = 8;

/**
 * On an 8 MiB machine with twice that in swap, one process writes a region of one and a half
 * times the free memory, then makes 1 + scale passes over it, each checking every page's word
 * and writing the next generation's. Every pass pages the whole region through: pageouts to
 * swap, swap-ins on fault, the daemon's scans.
 */
export const pressure: Workload = {
  name: "pressure",
  description: "a working set 1.5× the free memory, swept repeatedly: pageout to swap, swap-in on fault",
  system: () => ({ memoryMiB: MEMORY_MIB, swapMiB: 2 * MEMORY_MIB }),
  run(sys, { scale, onProgress, sample }) {
    const pages = Math.ceil(sys.vm.freePages * 1.5);
    const passes = 1 + scale;
    const total = pages * (1 + passes);
    const p = sys.spawn();
    const a = p.mmap(0, pages * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < pages; i++) {
      p.store32(a + i * PAGE_SIZE, pattern(i, 0));
      if ((i & 127) === 0) onProgress?.(i, total);
    }
    sample?.();
    for (let g = 1; g <= passes; g++) {
      for (let i = 0; i < pages; i++) {
        const va = a + i * PAGE_SIZE;
        check(p.load32(va) === pattern(i, g - 1), `pass ${g} page ${i}`);
        p.store32(va, pattern(i, g));
        if ((i & 127) === 0) onProgress?.(g * pages + i, total);
      }
      sample?.();
    }
    check(p.killedReason === undefined, "the process was not killed");
    p.exit(0);
    return { ops: pages * (1 + 2 * passes) + 2 };
  },
};
