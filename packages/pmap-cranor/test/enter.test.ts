/**
 * pmap_enter / pmap_remove / pmap_protect / pmap_unwire, checked through the MMU: after
 * pmap_activate, a user access on that CPU reaches the page (or faults) as the call said.
 */
import { PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, kernPa, MACHINES, panicText, RO, RW, RX, userPa } from "./support/host.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: pmap_enter and friends through the MMU", (name) => {
  it("enters, reads back through the MMU, removes", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const pg = sys.host.page();
    expect(pm.enter(VA, pg, RW, Prot.Write)).toBe(true);
    expect(userPa(sys, 0, VA + 8)).toBe(pg.pa + 8);
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa);
    expect(pm.extract(VA + 12)).toBe(pg.pa + 12);
    expect(sys.counter("pmap.enter")).toBeGreaterThan(0);
    sys.check();
    pm.remove(VA, VA + PAGE_SIZE);
    expect(userPa(sys, 0, VA)).toBe("fault");
    expect(pm.extract(VA)).toBeUndefined();
    expect(sys.counter("pmap.remove")).toBeGreaterThan(0);
    sys.check();
  });

  it("write-protects with pmap_protect and never raises rights", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const pg = sys.host.page();
    pm.enter(VA, pg, RO, 0);
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    pm.enter(VA, pg, RW, 0);
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa);
    pm.protect(VA, VA + PAGE_SIZE, RO);
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(userPa(sys, 0, VA)).toBe(pg.pa);
    pm.protect(VA, VA + PAGE_SIZE, RW);
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    pm.protect(VA, VA + PAGE_SIZE, Prot.None);
    expect(userPa(sys, 0, VA)).toBe("fault");
    sys.check();
  });

  it("PROT_EXEC: NX where the machine has it", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const a = sys.host.page();
    const b = sys.host.page();
    pm.enter(VA, a, RW, 0);
    pm.enter(VA + PAGE_SIZE, b, RX, 0);
    expect(userPa(sys, 0, VA + PAGE_SIZE, "exec")).toBe(b.pa);
    expect(userPa(sys, 0, VA, "exec")).toBe(name === "i386" ? a.pa : "fault");
    pm.protect(VA + PAGE_SIZE, VA + 2 * PAGE_SIZE, RO);
    expect(userPa(sys, 0, VA + PAGE_SIZE, "exec")).toBe(name === "i386" ? b.pa : "fault");
    sys.check();
  });

  it("wiring: PMAP_WIRED counts, pmap_unwire clears it, re-entering changes it", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.host.page();
    pm.enter(VA, pg, RW, PMAP_WIRED);
    expect(pm.wiredCount).toBe(1);
    pm.enter(VA, pg, RW, 0);
    expect(pm.wiredCount).toBe(0);
    pm.enter(VA, pg, RW, PMAP_WIRED);
    expect(pm.wiredCount).toBe(1);
    pm.unwire(VA);
    expect(pm.wiredCount).toBe(0);
    pm.unwire(VA); // not wired: noted, no change
    expect(pm.wiredCount).toBe(0);
    expect(panicText(() => pm.unwire(VA + PAGE_SIZE))).toMatch(/^pmap_unwire: invalid \(unmapped\) va/);
  });

  it("the u-area is supervisor-only; the kernel image is mapped at KERNBASE", () => {
    const sys = bootSystem(name);
    const l = sys.pmap.layout;
    const pm = sys.create();
    pm.activate(0);
    const pg = sys.host.page();
    pm.enter(l.uareaVa, pg, RW, PMAP_WIRED);
    expect(kernPa(sys, 0, l.uareaVa, "write")).toBe(pg.pa);
    expect(userPa(sys, 0, l.uareaVa)).toBe("fault");
    expect(kernPa(sys, 0, l.kernelBase + 0x12_3000)).toBe(0x12_3000);
    expect(userPa(sys, 0, l.kernelBase)).toBe("fault");
    expect(sys.pmap.missingPageTables(pm, VA)).toEqual([]);
    sys.check();
  });

  it("replacing a mapping with another page moves the pv entry; counts stay", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const a = sys.host.page();
    const b = sys.host.page();
    pm.enter(VA, a, RW, 0);
    const resident = pm.residentCount;
    pm.enter(VA, b, RW, 0);
    expect(pm.residentCount).toBe(resident);
    expect(userPa(sys, 0, VA)).toBe(b.pa);
    expect(sys.pmap.pv.peek(a)?.list).toBeNull();
    expect(sys.pmap.pv.peek(b)?.list?.va).toBe(VA);
    sys.check();
  });

  it("without PMAP_CANFAIL, no page table is a panic; with it, false", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.host.page();
    sys.host.starve = true;
    expect(pm.enter(VA, pg, RW, PMAP_CANFAIL)).toBe(false);
    sys.check();
    expect(panicText(() => pm.enter(VA, pg, RW, 0))).toBe("pmap_enter: get ptp failed");
  });
});
