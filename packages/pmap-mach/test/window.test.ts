/**
 * pmap_pte's windows: PTmap for the kernel pmap and the pmap in CR3, APTmap (installed in the
 * current table's alternate slot, then a TLB flush) for any other — with every access translated
 * by the current CPU's MMU, so a wrong or stale window writes into the wrong address space.
 */
import { PAGE_SIZE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, userPa } from "./support/toy.js";

const VA = 0x80_0000;

describe.each(MACHINES)("%s: PTmap and APTmap", (name) => {
  it("enters into a pmap that is not loaded: the write lands in that address space, through APTmap", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    const pa = sys.vm.page();
    const pb = sys.vm.page();
    a.enter(VA, pa, RW, 0);
    const switches = sys.counter("pmap.window.switch");
    const flushes = sys.counter("pmap.window.flush");
    sys.on(0, () => b.enter(VA, pb, RW, 0));
    expect(sys.counter("pmap.window.switch")).toBeGreaterThan(switches);
    expect(sys.counter("pmap.window.flush")).toBeGreaterThan(flushes);
    // CPU 0 still runs a: its mapping is untouched.
    expect(userPa(sys, 0, VA)).toBe(pa.pa);
    b.activate(1);
    expect(userPa(sys, 1, VA)).toBe(pb.pa);
    expect(b.extract(VA)).toBe(pb.pa);
    sys.pmap.audit();
  });

  it("does not switch the window for the current pmap or the kernel pmap", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    a.activate(0);
    a.enter(VA, sys.vm.page(), RW, 0); // page tables faulted in through PTmap
    const switches = sys.counter("pmap.window.switch");
    const flushes = sys.counter("pmap.window.flush");
    sys.on(0, () => {
      a.enter(VA + PAGE_SIZE, sys.vm.page(), RW, 0);
      a.remove(VA, VA + PAGE_SIZE);
      sys.pmap.kenter(sys.pmap.layout.kernelMin, sys.vm.page().pa, RW);
    });
    expect(sys.counter("pmap.window.switch")).toBe(switches);
    expect(sys.counter("pmap.window.flush")).toBe(flushes);
  });

  it("switches once per different pmap, not per access", () => {
    const sys = bootSystem(name);
    const pms = [sys.create(), sys.create(), sys.create()];
    const s0 = sys.counter("pmap.window.switch");
    sys.on(0, () => {
      for (const pm of pms) {
        for (let i = 0; i < 4; i++) pm.enter(VA + i * PAGE_SIZE, sys.vm.page(), RW, 0);
      }
    });
    // Each pmap's burst needs its window once; the page-table faults inside use the same one.
    expect(sys.counter("pmap.window.switch") - s0).toBe(3);
    sys.on(0, () => {
      for (const pm of pms) expect(pm.extract(VA)).toBeDefined();
    });
    expect(sys.counter("pmap.window.switch") - s0).toBe(6);
    sys.pmap.audit();
  });

  it("SMP: a CPU flushes APTmap translations cached for another pmap even when the shared slot already matches", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    const b = sys.create();
    const c = sys.create();
    a.activate(0);
    a.activate(1);
    const pb = sys.vm.page();
    const pc = sys.vm.page();
    sys.on(0, () => {
      b.enter(VA, pb, RW, 0);
      c.enter(VA, pc, RW, 0);
    });
    expect(sys.on(1, () => b.extract(VA))).toBe(pb.pa); // CPU 1 caches b through APTmap
    expect(sys.on(0, () => c.extract(VA))).toBe(pc.pa); // a's (shared) slot now holds c
    // The slot in memory is c already; CPU 1's TLB still has b's tables at those addresses.
    expect(sys.on(1, () => c.extract(VA))).toBe(pc.pa);
    expect(sys.on(1, () => b.extract(VA))).toBe(pb.pa);
  });

  it("a page-table page replaced behind APTmap is not read through a stale translation", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const b = sys.create();
    const p1 = sys.vm.page();
    const p2 = sys.vm.page();
    sys.on(1, () => b.enter(VA, p1, RW, 0));
    expect(sys.on(1, () => b.extract(VA))).toBe(p1.pa);
    sys.on(0, () => {
      sys.vm.releasePageTables(b); // unmaps and frees b's table pages
      sys.vm.page(); // take the freed frames so new tables land elsewhere
      sys.vm.page();
      sys.vm.page();
      b.enter(VA, p2, RW, 0);
    });
    expect(sys.on(1, () => b.extract(VA))).toBe(p2.pa);
    sys.pmap.audit();
  });
});
