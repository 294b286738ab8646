/**
 * pv entries from pv pages: pv_initpage at pmap_init, PVE_LOWAT growth, PVE_HIWAT release of
 * unused pages back to the VM, each pv page a real page mapped at kernel VA — and the reserve
 * only allocations at interrupt level may take when memory is short.
 */
import { IPL, PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, kernPa, MACHINES, panicText, RW, type TestSystem } from "./support/host.js";

const VA = 0x40_0000;

/** Deliver pending interrupts on CPU 0 at its next memory access (a supervisor load at KERNBASE). */
function touch(sys: TestSystem): void {
  sys.on(0, () => sys.cpu(0).load32(sys.pmap.layout.kernelBase, false));
}

describe.each(MACHINES)("%s: pv pages", (name) => {
  it("pmap_init maps pv_initpage; each pv page is a VM page mapped at its kernel VA", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pv = sys.pmap.pv;
    expect(sys.counter("pmap.pvpage.alloc")).toBe(1);
    expect(pv.pages.size).toBe(1);
    for (const p of pv.pages) {
      expect(kernPa(sys, 0, p.va)).toBe(p.pg.pa);
      expect(p.va).toBeGreaterThanOrEqual(pv.kvaStart);
      expect(p.va).toBeLessThan(pv.kvaStart + pv.kvaPages * PAGE_SIZE);
    }
    expect(pv.perPage).toBe(name === "amd64" ? 127 : 255);
    sys.check();
  });

  it("grows the cache by a page as soon as fewer than PVE_LOWAT entries are free", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pv = sys.pmap.pv;
    const { lowat } = pv.tune;
    const pm = sys.create();
    const pg = sys.host.page();
    const pages0 = sys.counter("pmap.pvpage.alloc");
    let n = 0;
    while (sys.counter("pmap.pvpage.alloc") === pages0) pm.enter(VA + n++ * PAGE_SIZE, pg, RW, 0);
    expect(pv.nfpvents).toBe(lowat - 1 + pv.perPage);
    expect(sys.counter("pmap.pv.alloc")).toBeGreaterThanOrEqual(n);
    sys.check();
  });

  it("gives unused pv pages back to the VM above PVE_HIWAT and unmaps them", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pv = sys.pmap.pv;
    const pm = sys.create();
    const pg = sys.host.page();
    const n = 4 * pv.perPage;
    for (let i = 0; i < n; i++) pm.enter(VA + i * PAGE_SIZE, pg, RW, 0);
    const used = [...pv.pages].map((p) => p.va);
    const pages = pv.pages.size;
    expect(pages).toBeGreaterThanOrEqual(4);
    const free0 = sys.host.freeCount;
    pm.remove(VA, VA + n * PAGE_SIZE);
    expect(sys.counter("pmap.pvpage.free")).toBeGreaterThan(0);
    expect(pv.nfpvents).toBeLessThanOrEqual(pv.tune.hiwat);
    expect(pv.pages.size).toBe(pages - sys.counter("pmap.pvpage.free"));
    expect(sys.host.freeCount).toBeGreaterThan(free0);
    const gone = used.filter((va) => ![...pv.pages].some((p) => p.va === va));
    expect(gone.length).toBe(sys.counter("pmap.pvpage.free"));
    for (const va of gone) expect(kernPa(sys, 0, va)).toBe("fault");
    sys.check();
  });

  it("memory short: ordinary allocations stop at the reserve; an interrupt handler's pmap_enter uses it", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pv = sys.pmap.pv;
    const reserve = pv.tune.reserve;
    const a = sys.create();
    const k = sys.create();
    const pg = sys.host.page();
    const ipg = sys.host.page();
    a.enter(VA, pg, RW, 0); // page tables exist before memory runs short
    k.enter(VA, ipg, RW, 0);
    sys.host.normalFloor = sys.host.freeCount; // no more pages for ordinary allocations
    let n = 1;
    while (a.enter(VA + n * PAGE_SIZE, pg, RW, PMAP_CANFAIL)) n++;
    expect(pv.nfpvents).toBe(reserve);
    expect(sys.host.refusals).toBeGreaterThan(0);
    expect(panicText(() => a.enter(VA + n * PAGE_SIZE, pg, RW, 0))).toBe("pmap_enter: no pv entries available");
  });

  it("at interrupt level the reserve is used, and below it a page is taken at interrupt level", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pv = sys.pmap.pv;
    const reserve = pv.tune.reserve;
    const a = sys.create();
    const b = sys.create();
    const pg = sys.host.page();
    a.activate(0);
    a.enter(VA, pg, RW, 0);
    b.enter(VA, pg, RW, 0);
    sys.host.normalFloor = sys.host.freeCount;
    let n = 1;
    while (a.enter(VA + n * PAGE_SIZE, pg, RW, PMAP_CANFAIL)) n++;
    expect(pv.nfpvents).toBe(reserve);
    // an interrupt handler (a disk completion, say) maps pages into b: through APTE_BASE, from the reserve
    let depth = -1;
    let mapped = 0;
    sys.on(0, () =>
      sys.cpu(0).post({
        name: "disk",
        level: IPL.BIO,
        handler: (cpu) => {
          depth = cpu.depth;
          for (let i = 1; i <= reserve + 2; i++) if (b.enter(VA + i * PAGE_SIZE, pg, RW, PMAP_WIRED)) mapped++;
        },
      }),
    );
    expect(depth).toBe(-1); // pending until the next access
    touch(sys);
    expect(depth).toBe(1);
    expect(mapped).toBe(reserve + 2);
    expect(sys.counter("pmap.pv.reserve")).toBe(reserve);
    expect(sys.host.interruptAllocs).toBe(1); // the reserve ran out: one pv page at interrupt level
    expect(sys.panics).toEqual([]);
    sys.check();
    // memory comes back: the next ordinary allocation refills the cache
    sys.host.normalFloor = 0;
    expect(a.enter(VA + n * PAGE_SIZE, pg, RW, PMAP_CANFAIL)).toBe(true);
    sys.check();
  });
});
