/**
 * pmap_collect (exposed on the module): everything that is not wired goes, page tables that
 * empty are freed — and a wired mapping is never removed (pmap(9)).
 */
import { PAGE_SIZE, PMAP_WIRED } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, userPa } from "./support/host.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: pmap_collect", (name) => {
  it("removes every unwired mapping and frees emptied PTPs, keeping wired ones", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const pm = sys.create();
    pm.activate(1);
    const span = sys.pmap.win.span[1] as number;
    const w1 = sys.host.page();
    const w2 = sys.host.page();
    const u = [sys.host.page(), sys.host.page(), sys.host.page()];
    pm.enter(VA, w1, RW, PMAP_WIRED);
    pm.enter(VA + PAGE_SIZE, u[0]!, RW, 0);
    pm.enter(VA + span, u[1]!, RW, 0); // a PTP with nothing wired in it
    pm.enter(VA + span + PAGE_SIZE, u[2]!, RW, 0);
    pm.enter(sys.pmap.layout.uareaVa, w2, RW, PMAP_WIRED);
    expect(userPa(sys, 1, VA + span)).toBe(u[1]!.pa); // warm CPU 1's TLB
    const ptps = pm.obj[0]!.size;
    sys.on(0, () => sys.pmap.collect(pm));
    expect(pm.extract(VA)).toBe(w1.pa);
    expect(pm.extract(sys.pmap.layout.uareaVa)).toBe(w2.pa);
    expect(pm.extract(VA + PAGE_SIZE)).toBeUndefined();
    expect(pm.extract(VA + span)).toBeUndefined();
    expect(userPa(sys, 1, VA + span)).toBe("fault"); // shot down on CPU 1
    expect(pm.obj[0]!.size).toBe(ptps - 1);
    expect(pm.wiredCount).toBe(2);
    for (const pg of u) expect(sys.pmap.pv.peek(pg)?.list).toBeNull();
    sys.check();
  });

  it("never touches a pmap whose mappings are all wired, nor the kernel pmap", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pgs = [sys.host.page(), sys.host.page()];
    pgs.forEach((pg, i) => {
      pm.enter(VA + i * PAGE_SIZE, pg, RW, PMAP_WIRED);
    });
    const resident = pm.residentCount;
    const kresident = sys.pmap.kernelPmap.residentCount;
    sys.pmap.collect(pm);
    sys.pmap.collect(sys.pmap.kernelPmap);
    expect(pm.residentCount).toBe(resident);
    expect(sys.pmap.kernelPmap.residentCount).toBe(kresident);
    sys.check();
  });
});
