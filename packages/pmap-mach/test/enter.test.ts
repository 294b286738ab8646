/**
 * pmap_enter, pmap_extract, pmap_remove, pmap_protect, pmap_unwire on one pmap, checked through
 * the MMU (user-mode translations after pmap_activate), not only through pmap_extract.
 */
import { KernelPanic, PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, Prot } from "@vmlab/core";
import { PG_A, PG_M, PG_RW, PG_U, PG_V } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { PG_W } from "../src/index.js";
import { bootSystem, MACHINES, RW, RWX, RX, userPa } from "./support/toy.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: pmap_enter and pmap_remove", (name) => {
  it("maps a page that user mode reaches through the MMU, and pmap_remove unmaps it", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const pg = sys.vm.page();
    expect(pm.enter(VA, pg, RW, Prot.Read)).toBe(true);
    expect(pm.extract(VA + 0x123)).toBe(pg.pa + 0x123);
    expect(userPa(sys, 0, VA + 8)).toBe(pg.pa + 8);
    expect(userPa(sys, 0, VA + 8, "write")).toBe(pg.pa + 8);
    sys.pmap.audit();
    pm.remove(VA, VA + PAGE_SIZE);
    expect(pm.extract(VA)).toBeUndefined();
    expect(userPa(sys, 0, VA)).toBe("fault");
    sys.pmap.audit();
    expect(sys.counter("pmap.enter")).toBeGreaterThan(0);
    expect(sys.counter("pmap.remove")).toBe(1);
  });

  it("faults the page tables in top level first, at their UPT addresses (4.4BSD trap.c)", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const w = sys.pmap.win.ptw;
    const missing = sys.pmap.missingPageTables(pm, VA + 0x10);
    const levels = sys.pmap.L.levels;
    expect(missing).toEqual(Array.from({ length: levels - 1 }, (_, i) => w.tablePageVa(VA, levels - 2 - i)));
    for (const v of missing) {
      expect(v).toBeGreaterThanOrEqual(sys.pmap.layout.uptMin);
      expect(v).toBeLessThan(sys.pmap.layout.uptMax);
    }
    pm.enter(VA, sys.vm.page(), RW, 0);
    expect(sys.pmap.missingPageTables(pm, VA)).toEqual([]);
    expect(sys.vm.ptCount(pm)).toBe(levels - 1);
    // The table pages are resident, wired mappings of the pmap (they live in its map).
    expect(pm.residentCount).toBe(levels);
    expect(pm.wiredCount).toBe(levels - 1);
    // The same PT page serves a neighbour; a far address needs its own.
    pm.enter(VA + PAGE_SIZE, sys.vm.page(), RW, 0);
    expect(sys.vm.ptCount(pm)).toBe(levels - 1);
    expect(sys.pmap.missingPageTables(pm, 0x4000_0000).length).toBeGreaterThan(0);
    sys.pmap.audit();
  });

  it("writes page-table entries user + writable, never NX, and the table pages stay supervisor-only", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    pm.enter(VA, sys.vm.page(), Prot.Read, 0);
    const ptva = sys.pmap.win.ptw.tablePageVa(VA, 0);
    const cpu = sys.cpu(0);
    const pde = cpu.load32(sys.pmap.win.ptw.pteVa(ptva), false);
    expect(pde & (PG_V | PG_U | PG_RW)).toBe(PG_V | PG_U | PG_RW);
    if (sys.pmap.wide) expect(cpu.load32(sys.pmap.win.ptw.pteVa(ptva) + 4, false) >>> 31).toBe(0);
    // User mode cannot reach the page table through PTmap: the self slot is supervisor-only.
    expect(userPa(sys, 0, ptva)).toBe("fault");
    expect(sys.on(0, () => cpu.translate(ptva, { access: "read", user: false }))).toHaveProperty("pa");
  });

  it("a read-only mapping faults on user writes; NX is enforced where the machine has it", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const ro = sys.vm.page();
    const rx = sys.vm.page();
    pm.enter(VA, ro, Prot.Read, 0);
    pm.enter(VA + PAGE_SIZE, rx, RX, 0);
    expect(userPa(sys, 0, VA)).toBe(ro.pa);
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(userPa(sys, 0, VA + PAGE_SIZE, "exec")).toBe(rx.pa);
    if (name === "i386") expect(userPa(sys, 0, VA, "exec")).toBe(ro.pa);
    else expect(userPa(sys, 0, VA, "exec")).toBe("fault");
    sys.pmap.audit();
  });

  it("maps the u-area supervisor-only and user pages with PG_U", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const l = sys.pmap.layout;
    const u = sys.vm.page();
    pm.enter(l.uareaVa, u, RW, PMAP_WIRED);
    expect(userPa(sys, 0, l.uareaVa)).toBe("fault");
    expect(sys.on(0, () => sys.cpu(0).translate(l.uareaVa, { access: "write", user: false }))).toEqual({ pa: u.pa });
    const top = sys.vm.page();
    pm.enter(l.userMax - PAGE_SIZE, top, RW, 0);
    expect(userPa(sys, 0, l.userMax - PAGE_SIZE, "write")).toBe(top.pa);
    sys.pmap.audit();
  });

  it("re-entering the same page changes only protection and wiring, keeping the A/D bits", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, PMAP_WIRED);
    expect(pm.wiredCount).toBe(sys.pmap.L.levels); // PT pages + the page
    userPa(sys, 0, VA, "write"); // the MMU sets A and D
    pm.enter(VA, pg, Prot.Read, 0);
    expect(pm.wiredCount).toBe(sys.pmap.L.levels - 1);
    expect(pm.residentCount).toBe(sys.pmap.L.levels);
    const pte = sys.cpu(0).load32(sys.pmap.win.ptw.pteVa(VA), false);
    expect(pte & (PG_A | PG_M | PG_RW | PG_W)).toBe(PG_A | PG_M);
    // The downgrade was invalidated: the TLB's writable entry is gone.
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(sys.pmap.isModified(pg)).toBe(true);
    sys.pmap.audit();
  });

  it("entering another page at a mapped address replaces the old mapping and harvests its bits", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const a = sys.vm.page();
    const b = sys.vm.page();
    pm.enter(VA, a, RW, 0);
    expect(userPa(sys, 0, VA, "write")).toBe(a.pa);
    pm.enter(VA, b, RW, 0);
    expect(userPa(sys, 0, VA)).toBe(b.pa);
    expect(sys.pmap.isModified(a)).toBe(true);
    expect(sys.pmap.isReferenced(a)).toBe(true);
    expect(sys.pmap.isModified(b)).toBe(false);
    expect(pm.residentCount).toBe(sys.pmap.L.levels);
    sys.pmap.audit();
  });

  it("pmap_unwire clears PG_W and the wired count; unwiring twice is harmless", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, PMAP_WIRED);
    const w0 = pm.wiredCount;
    pm.unwire(VA);
    expect(pm.wiredCount).toBe(w0 - 1);
    pm.unwire(VA);
    pm.unwire(VA + 0x100_0000);
    expect(pm.wiredCount).toBe(w0 - 1);
    sys.pmap.audit();
  });

  it("pmap_protect lowers rights only, and removes without read", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const pages = [sys.vm.page(), sys.vm.page(), sys.vm.page()];
    pages.forEach((pg, i) => {
      pm.enter(VA + i * PAGE_SIZE, pg, RWX, 0);
    });
    for (let i = 0; i < 3; i++) expect(userPa(sys, 0, VA + i * PAGE_SIZE, "write")).toBe(pages[i]?.pa);
    pm.protect(VA, VA + 2 * PAGE_SIZE, Prot.Read);
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(userPa(sys, 0, VA + PAGE_SIZE)).toBe(pages[1]?.pa);
    if (name !== "i386") expect(userPa(sys, 0, VA, "exec")).toBe("fault");
    expect(userPa(sys, 0, VA + 2 * PAGE_SIZE, "write")).toBe(pages[2]?.pa);
    // Never raises: RWX on a read-only page changes nothing.
    pm.protect(VA, VA + PAGE_SIZE, RWX);
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    // RW without X on an NX machine drops execute only.
    pm.protect(VA + 2 * PAGE_SIZE, VA + 3 * PAGE_SIZE, RW);
    expect(userPa(sys, 0, VA + 2 * PAGE_SIZE, "write")).toBe(pages[2]?.pa);
    expect(userPa(sys, 0, VA + 2 * PAGE_SIZE, "exec")).toBe(name === "i386" ? pages[2]?.pa : "fault");
    pm.protect(VA, VA + 3 * PAGE_SIZE, Prot.None);
    for (let i = 0; i < 3; i++) expect(pm.extract(VA + i * PAGE_SIZE)).toBeUndefined();
    expect(pm.residentCount).toBe(sys.pmap.L.levels - 1);
    sys.pmap.audit();
  });

  it("pmap_remove over the whole user range skips missing page tables quickly", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const l = sys.pmap.layout;
    const vas = [0x1000, 0x7654_3000, l.userMax - PAGE_SIZE];
    for (const va of vas) pm.enter(va, sys.vm.page(), RW, 0);
    const before = sys.machine.stats()["tlb.hit"] ?? 0;
    pm.remove(0, l.userMax);
    const loads = (sys.machine.stats()["tlb.hit"] ?? 0) - before;
    expect(loads).toBeLessThan(20_000);
    for (const va of vas) expect(pm.extract(va)).toBeUndefined();
    sys.pmap.audit();
  });

  it("removing a page-table page first removes what is mapped through it", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(0);
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, 0);
    sys.vm.releasePageTables(pm);
    expect(pm.residentCount).toBe(0);
    expect(pm.wiredCount).toBe(0);
    expect(userPa(sys, 0, VA)).toBe("fault");
    expect(sys.pmap.missingPageTables(pm, VA).length).toBe(sys.pmap.L.levels - 1);
    sys.pmap.audit();
    // And it can be mapped again (fresh tables faulted in).
    pm.enter(VA, pg, RW, 0);
    expect(userPa(sys, 0, VA)).toBe(pg.pa);
    sys.pmap.audit();
  });

  it("panics 'ptdi' when the page table cannot be faulted in (NetBSD 1.2)", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    sys.vm.faultPageTableFails = true;
    expect(() => pm.enter(VA, sys.vm.page(), RW, 0)).toThrow(KernelPanic);
    expect(sys.panics[0]).toMatch(/^ptdi 0x0$/);
  });

  it("refuses kernel addresses in a user pmap and user addresses in the kernel pmap", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    expect(() => pm.enter(sys.pmap.layout.kernelMin, sys.vm.page(), RW, 0)).toThrow(/pmap_enter: va/);
    expect(() => sys.pmap.kernelPmap.enter(VA, sys.vm.page(), RW, 0)).toThrow(/pmap_enter: va/);
  });

  it("PMAP_CANFAIL returns false when no pv page can be had", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const b = sys.create();
    const pg = sys.vm.page();
    a.enter(VA, pg, RW, 0);
    b.enter(VA, sys.vm.page(), RW, 0); // b's page tables
    sys.vm.starve = true;
    expect(b.enter(VA + PAGE_SIZE, pg, RW, PMAP_CANFAIL)).toBe(false);
    expect(() => b.enter(VA + PAGE_SIZE, pg, RW, 0)).toThrow(/pmap_alloc_pv/);
  });

  it("kernel mappings from pmap_enter are managed, kenter ones are not", () => {
    const sys = bootSystem(name);
    const kp = sys.pmap.kernelPmap;
    const kva = sys.vm.kvaAlloc(2 * PAGE_SIZE);
    const pg = sys.vm.page();
    kp.enter(kva, pg, RW, PMAP_WIRED);
    expect(kp.residentCount).toBe(1);
    expect(kp.extract(kva)).toBe(pg.pa);
    const other = sys.vm.page();
    sys.pmap.kenter(kva + PAGE_SIZE, other.pa, RW);
    expect(kp.residentCount).toBe(1);
    expect(sys.on(1, () => sys.cpu(1).load32(kva + PAGE_SIZE, false))).toBe(0);
    sys.pmap.audit();
    kp.remove(kva, kva + 2 * PAGE_SIZE);
    expect(kp.residentCount).toBe(0);
    expect(kp.extract(kva + PAGE_SIZE)).toBeUndefined();
    sys.pmap.audit();
    // pmap_kremove of a managed mapping is a panic (the system is dead afterwards).
    kp.enter(kva, pg, RW, PMAP_WIRED);
    expect(() => sys.pmap.kremove(kva, 1)).toThrow(/pmap_kremove: .* managed/);
  });
});
