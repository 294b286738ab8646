/**
 * The shortage case from the issue: a fork storm — many pmaps entering the same pages, as
 * children sharing their parent's pages copy-on-write do — while memory is short and pv pages run
 * low. Ordinary pmap_enter calls fail cleanly (PMAP_CANFAIL) once only the reserve is left;
 * interrupt handlers that map pages meanwhile are served from the reserve (or a page taken at
 * interrupt level); nothing panics; every audit holds; at the end nothing is left behind.
 */
import { IPL, PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { CranorPmap } from "../src/index.js";
import { bootSystem, MACHINES, RO, RW, type ToyPage } from "./support/host.js";

const BASE = 0x100_0000;
const PAGES = 64;
const CHILDREN = 32;

describe.each(MACHINES)("%s: fork storm with pv pages running low", (name) => {
  it("fails ordinary enters cleanly, serves interrupts from the reserve, never panics", () => {
    const sys = bootSystem(name, { cpus: 2, witness: "panic" });
    const prng = sys.kernel.prng;
    const pv = sys.pmap.pv;
    const parent = sys.create();
    parent.activate(0);
    const pages: ToyPage[] = [];
    for (let i = 0; i < PAGES; i++) {
      const pg = sys.host.page();
      pages.push(pg);
      parent.enter(BASE + i * PAGE_SIZE, pg, RW, 0);
    }
    // The children exist and have their page tables (vmspace_fork made them before the storm).
    const kids: CranorPmap[] = [];
    for (let c = 0; c < CHILDREN; c++) {
      const kid = sys.create();
      kid.enter(BASE, pages[0] as ToyPage, RO, 0);
      kids.push(kid);
    }
    // Interrupt-time mappings go into the kernel pmap, at KVA taken now (kernel_map is not
    // entered at interrupt level), and into a "driver" pmap whose page table exists.
    const kva = sys.host.kvaAlloc(256 * PAGE_SIZE);
    const driver = sys.create();
    driver.enter(BASE, pages[0]!, RW, PMAP_WIRED);
    let kvaNext = 0;
    let drvNext = 1;
    // Memory is short from now on: one more page for ordinary allocations, then none.
    sys.host.normalFloor = sys.host.freeCount - 1;
    let ok = 0;
    let failed = 0;
    let irqs = 0;
    let irqMapped = 0;
    for (let c = 0; c < CHILDREN; c++) {
      const kid = kids[c] as CranorPmap;
      const cpu = c % 2;
      // Whatever the exits gave back, the rest of the storm takes (memory stays short).
      sys.host.normalFloor = Math.max(sys.host.normalFloor, sys.host.freeCount - 1);
      for (let i = 1; i < PAGES; i++) {
        if (prng.int(0, 8 - 1) === 0) {
          irqs++;
          sys.on(cpu, () =>
            sys.cpu(cpu).post({
              name: "disk",
              level: IPL.BIO,
              handler: () => {
                const pg = pages[prng.int(0, PAGES - 1)] as ToyPage;
                if (prng.int(0, 2 - 1) === 0) {
                  sys.pmap.kernelPmap.enter(kva + (kvaNext++ % 256) * PAGE_SIZE, pg, RW, PMAP_WIRED);
                } else {
                  driver.enter(BASE + (drvNext++ % 256) * PAGE_SIZE, pg, RO, PMAP_WIRED);
                }
                irqMapped++;
              },
            }),
          );
        }
        const entered = sys.on(cpu, () =>
          kid.enter(BASE + i * PAGE_SIZE, pages[i] as ToyPage, Prot.Read, PMAP_CANFAIL | Prot.Read),
        );
        if (entered) ok++;
        else failed++;
      }
      // Some children exit right away (their entries come back), as in a real storm.
      if (prng.int(0, 4 - 1) === 0) sys.on(cpu, () => kid.remove(0, sys.pmap.layout.userMax));
      sys.check();
    }
    expect(sys.panics).toEqual([]);
    console.log(
      `${name}: ${ok} entered, ${failed} refused, ${irqMapped} mapped at interrupt level, ` +
        `${sys.counter("pmap.pv.reserve")} from the reserve, ${sys.host.interruptAllocs} pages at interrupt level`,
    );
    expect(irqMapped).toBe(irqs);
    expect(failed).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(0);
    expect(sys.counter("pmap.pv.reserve")).toBeGreaterThan(0);
    // Every child, the driver and the parent go away; everything comes back.
    sys.host.normalFloor = 0;
    for (const kid of kids) kid.destroy();
    driver.destroy();
    parent.deactivate(0);
    sys.pmap.kernelPmap.activate(0);
    parent.destroy();
    sys.pmap.kernelPmap.remove(kva, kva + 256 * PAGE_SIZE);
    for (const pg of pages) expect(pv.peek(pg)?.list ?? null).toBeNull();
    expect(pv.nfpvents).toBeLessThanOrEqual(pv.tune.hiwat);
    expect(sys.pmap.pmaps.size).toBe(0);
    sys.check();
  });
});
