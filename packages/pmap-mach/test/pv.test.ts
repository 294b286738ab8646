/**
 * pv_table and the page-centric calls: pmap_page_protect, pmap_clear_modify /
 * pmap_is_modified, pmap_clear_reference / pmap_is_referenced, pmap_ts_referenced, with the
 * A/D bits set by the MMU itself; pv pages allocated and freed as real pages.
 */
import { PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, RWX, userPa } from "./support/toy.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: pv_table and page-centric calls", (name) => {
  function threePmaps() {
    const sys = bootSystem(name, { cpus: 3 });
    const pms = [sys.create(), sys.create(), sys.create()];
    pms.forEach((pm, i) => {
      pm.activate(i);
    });
    const pg = sys.vm.page();
    sys.on(0, () => {
      pms.forEach((pm, i) => {
        pm.enter(VA + i * 0x1000_0000, pg, RWX, 0);
      });
    });
    return { sys, pms, pg };
  }

  it("pmap_page_protect(NONE) removes every mapping of the page, in every pmap, on every CPU", () => {
    const { sys, pms, pg } = threePmaps();
    pms.forEach((_, i) => {
      expect(userPa(sys, i, VA + i * 0x1000_0000, "write")).toBe(pg.pa);
    });
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.None));
    pms.forEach((pm, i) => {
      expect(userPa(sys, i, VA + i * 0x1000_0000)).toBe("fault");
      expect(pm.extract(VA + i * 0x1000_0000)).toBeUndefined();
    });
    expect(sys.pmap.pv.head(pg).pmap).toBeNull();
    expect(sys.pmap.isModified(pg)).toBe(true); // harvested into pmap_attributes
    sys.pmap.audit();
  });

  it("pmap_page_protect(READ) write-protects every mapping (and drops execute where there is NX)", () => {
    const { sys, pms, pg } = threePmaps();
    pms.forEach((_, i) => {
      expect(userPa(sys, i, VA + i * 0x1000_0000, "write")).toBe(pg.pa);
    });
    sys.on(1, () => sys.pmap.pageProtect(pg, Prot.Read));
    pms.forEach((_, i) => {
      const va = VA + i * 0x1000_0000;
      expect(userPa(sys, i, va, "write")).toBe("fault");
      expect(userPa(sys, i, va)).toBe(pg.pa);
      expect(userPa(sys, i, va, "exec")).toBe(name === "i386" ? pg.pa : "fault");
    });
    sys.on(1, () => sys.pmap.pageProtect(pg, Prot.All));
    expect(userPa(sys, 0, VA, "write")).toBe("fault"); // never raises
    sys.pmap.audit();
  });

  it("clearModify / isModified follow the D bit the MMU sets", () => {
    const { sys, pg } = threePmaps();
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(userPa(sys, 2, VA + 2 * 0x1000_0000)).toBe(pg.pa); // a read: A only
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(sys.pmap.isReferenced(pg)).toBe(true);
    expect(userPa(sys, 1, VA + 0x1000_0000, "write")).toBe(pg.pa);
    expect(sys.pmap.isModified(pg)).toBe(true);
    expect(sys.on(0, () => sys.pmap.clearModify(pg))).toBe(true);
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(sys.on(0, () => sys.pmap.clearModify(pg))).toBe(false);
    // The TLB entry with D=1 was invalidated, so the next write sets D again.
    expect(userPa(sys, 1, VA + 0x1000_0000, "write")).toBe(pg.pa);
    expect(sys.pmap.isModified(pg)).toBe(true);
  });

  it("clearReference / tsReferenced count and clear the A bits", () => {
    const { sys, pms, pg } = threePmaps();
    pms.forEach((_, i) => {
      userPa(sys, i, VA + i * 0x1000_0000);
    });
    expect(sys.pmap.tsReferenced(pg)).toBe(3);
    expect(sys.pmap.isReferenced(pg)).toBe(false);
    expect(sys.pmap.tsReferenced(pg)).toBe(0);
    userPa(sys, 2, VA + 2 * 0x1000_0000);
    expect(sys.pmap.clearReference(pg)).toBe(true);
    expect(sys.pmap.clearReference(pg)).toBe(false);
    // A removed mapping's A bit is saved in pmap_attributes and still counts.
    userPa(sys, 0, VA);
    sys.on(0, () => pms[0]?.remove(VA, VA + PAGE_SIZE));
    expect(sys.pmap.isReferenced(pg)).toBe(true);
    expect(sys.pmap.tsReferenced(pg)).toBe(1);
    expect(sys.pmap.isReferenced(pg)).toBe(false);
    sys.pmap.audit();
  });

  it("chains pv entries in pv pages, and frees a pv page when all its entries are free", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    const npv = sys.pmap.L.npvppg;
    const n = npv + 5; // head + npv chained + 4 more → two pv pages
    const free0 = sys.vm.freeCount;
    for (let i = 0; i < n; i++) pm.enter(VA + i * PAGE_SIZE, pg, RW, 0);
    expect(sys.pmap.pv.pages.size).toBe(2);
    expect(sys.counter("pmap.pvpage.alloc")).toBe(2);
    expect(sys.counter("pmap.pv.alloc")).toBe(n - 1);
    sys.pmap.audit();
    pm.remove(VA, VA + 10 * PAGE_SIZE);
    sys.pmap.audit();
    sys.pmap.pageProtect(pg, Prot.None);
    expect(sys.pmap.pv.pages.size).toBe(0);
    expect(sys.counter("pmap.pvpage.free")).toBe(2);
    expect(sys.counter("pmap.pv.free")).toBe(n - 1);
    // Only the page tables are still allocated.
    expect(free0 - sys.vm.freeCount).toBe(sys.vm.ptCount(pm));
    sys.pmap.audit();
  });

  it("keeps the head embedded: removing the head mapping moves the next one into it", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const b = sys.create();
    const pg = sys.vm.page();
    a.enter(VA, pg, RW, 0);
    b.enter(VA, pg, RW, 0);
    const head = sys.pmap.pv.head(pg);
    expect(head.pmap).toBe(a);
    a.remove(VA, VA + PAGE_SIZE);
    expect(sys.pmap.pv.head(pg)).toBe(head);
    expect(head.pmap).toBe(b);
    expect(head.next).toBeNull();
    sys.pmap.audit();
  });
});
