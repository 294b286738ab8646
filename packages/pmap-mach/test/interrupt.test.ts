/**
 * Interrupts arrive at memory accesses (ARCHITECTURE.md decision 3). The pmap raises splvm while
 * it holds its locks and the alternate window, as 4.4BSD's splimp around pv_table did, so a
 * device interrupt whose handler maps memory runs before or after — never inside — the
 * critical section, and every mapping still lands in its own address space.
 */
import { IPL, PAGE_SIZE, PMAP_WIRED } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, userPa } from "./support/toy.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: interrupts during pmap calls", (name) => {
  it("a splbio handler that maps into another pmap and the kernel does not disturb pmap_enter", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const b = sys.create();
    const c = sys.create();
    a.activate(0);
    c.activate(1);
    const pb = sys.vm.page();
    const pc = sys.vm.page();
    const pk = sys.vm.page();
    const kva = sys.vm.kvaAlloc(PAGE_SIZE);
    let ran = 0;
    const cpu0 = sys.cpu(0);
    sys.on(0, () => {
      cpu0.post({
        name: "disk",
        level: IPL.BIO,
        handler: () => {
          ran++;
          c.enter(VA, pc, RW, 0); // through the alternate window of CPU 0
          sys.pmap.kernelPmap.enter(kva, pk, RW, PMAP_WIRED);
        },
      });
      b.enter(VA, pb, RW, 0);
    });
    expect(ran).toBe(1);
    b.activate(0);
    expect(userPa(sys, 0, VA)).toBe(pb.pa);
    expect(userPa(sys, 1, VA)).toBe(pc.pa);
    expect(sys.pmap.kernelPmap.extract(kva)).toBe(pk.pa);
    expect(sys.witness.reports).toEqual([]);
    sys.pmap.audit();
  });

  it("a clock interrupt above splvm is delivered inside the call and the call still completes", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const pg = sys.vm.page();
    let depthSeen = -1;
    sys.on(0, () => {
      sys.cpu(0).post({ name: "clock", level: IPL.CLOCK, handler: (c) => (depthSeen = c.depth) });
      a.enter(VA, pg, RW, 0);
    });
    expect(depthSeen).toBe(1);
    expect(a.extract(VA)).toBe(pg.pa);
    sys.pmap.audit();
  });
});
