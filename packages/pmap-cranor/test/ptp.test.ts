/**
 * Page-table pages in pm_obj: allocated from the VM by pmap_enter (never faulted into the user
 * map), at offset index × PAGE_SIZE, found through pm_ptphint, wire_count = 1 + valid PTEs, freed
 * when it drops back to 1 — with the tables above them on amd64.
 */
import { PAGE_SIZE, PMAP_WIRED } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, userPa } from "./support/host.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: page-table pages", (name) => {
  it("pmap_enter allocates the PTPs from the VM, counts them resident, keeps them in pm_obj", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pm = sys.create();
    const pdp = sys.pmap.L.pdpSize;
    expect(pm.residentCount).toBe(pdp);
    const levels = sys.pmap.L.levels;
    const allocs = sys.host.allocs;
    const pg = sys.host.page();
    pm.enter(VA, pg, RW, 0);
    // one page for the mapping's test page above, and one per missing table level
    expect(sys.host.allocs - allocs - 1).toBe(levels - 1);
    expect(sys.counter("pmap.ptp.alloc")).toBe(levels - 1);
    expect(pm.residentCount).toBe(pdp + (levels - 1) + 1);
    const span = sys.pmap.win.span;
    for (let t = 0; t < levels - 1; t++) {
      const obj = pm.obj[t] as Map<number, unknown>;
      expect([...obj.keys()]).toEqual([Math.floor(VA / (span[t + 1] as number))]);
      expect(pm.ptphint[t]).toBe(obj.values().next().value);
    }
    const ptp = pm.obj[0]?.get(Math.floor(VA / (span[1] as number)));
    expect(ptp?.wireCount).toBe(2);
    sys.check();
  });

  it("wire_count = 1 + valid PTEs; the PTP is freed when the last mapping goes", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pm = sys.create();
    pm.activate(0);
    const pages = [sys.host.page(), sys.host.page(), sys.host.page()];
    pages.forEach((pg, i) => {
      pm.enter(VA + i * PAGE_SIZE, pg, RW, 0);
    });
    const span = sys.pmap.win.span[1] as number;
    const ptp = pm.obj[0]?.get(Math.floor(VA / span));
    expect(ptp?.wireCount).toBe(4);
    pm.enter(VA + PAGE_SIZE, pages[0]!, RW, 0); // replacing a mapping does not count twice
    expect(ptp?.wireCount).toBe(4);
    pm.remove(VA, VA + 2 * PAGE_SIZE);
    expect(ptp?.wireCount).toBe(2);
    expect(sys.counter("pmap.ptp.free")).toBe(0);
    sys.check();
    const free0 = sys.host.freeCount;
    pm.remove(VA + 2 * PAGE_SIZE, VA + 3 * PAGE_SIZE);
    const levels = sys.pmap.L.levels;
    expect(sys.counter("pmap.ptp.free")).toBe(levels - 1); // the PT, and on amd64 its PD and PDPT
    expect(sys.host.freeCount - free0).toBe(levels - 1);
    for (const obj of pm.obj) expect(obj.size).toBe(0);
    expect(pm.residentCount).toBe(sys.pmap.L.pdpSize);
    expect(userPa(sys, 0, VA + 2 * PAGE_SIZE)).toBe("fault");
    // the table is gone from the window too: a new one is made when needed
    pm.enter(VA, pages[1]!, RW, 0);
    expect(userPa(sys, 0, VA)).toBe(pages[1]!.pa);
    sys.check();
  });

  it("pmap_page_remove frees a PTP through the pv entry's pv_ptp, in a pmap that is not current", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    const pg = sys.host.page();
    b.enter(VA, pg, RW, PMAP_WIRED);
    expect(sys.pmap.pv.peek(pg)?.list?.ptp).toBe(b.obj[0]?.values().next().value);
    sys.pmap.pageProtect(pg, 0);
    for (const obj of b.obj) expect(obj.size).toBe(0);
    expect(b.wiredCount).toBe(0);
    expect(b.residentCount).toBe(sys.pmap.L.pdpSize);
    sys.check();
  });

  it("tables far apart get their own PTPs; upper levels are shared where they can be", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const pm = sys.create();
    const far = name === "amd64" ? 0x7654_3210_0000 : 0x8000_0000;
    pm.enter(VA, sys.host.page(), RW, 0);
    pm.enter(VA + (sys.pmap.win.span[1] as number), sys.host.page(), RW, 0);
    pm.enter(far, sys.host.page(), RW, 0);
    expect(pm.obj[0]?.size).toBe(3);
    if (name === "amd64") {
      expect(pm.obj[1]?.size).toBe(2);
      expect(pm.obj[2]?.size).toBe(2);
    }
    pm.remove(0, sys.pmap.layout.userMax);
    for (const obj of pm.obj) expect(obj.size).toBe(0);
    sys.check();
  });

  it("pmap_destroy frees what is left and gives the top-level tables back", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const free0 = sys.host.freeCount;
    const pm = sys.create();
    pm.activate(1);
    const pg = sys.host.page();
    pm.enter(VA, pg, RW, PMAP_WIRED);
    pm.enter(sys.pmap.layout.uareaVa, sys.host.page(), RW, PMAP_WIRED);
    pm.destroy();
    expect(pm.released).toBe(true);
    expect(sys.pmap.pv.peek(pg)?.list).toBeNull();
    expect(sys.cpu(1).cr3).toBe(sys.pmap.kernelPmap.cr3);
    // two test pages stay allocated; the tables and kmem pages came back
    expect(free0 - sys.host.freeCount).toBe(2);
    sys.check();
  });
});
