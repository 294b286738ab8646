/**
 * The page-centric calls (pv → pmap): pmap_page_protect (pmap_page_remove / write-protect),
 * pmap_clear_attrs (clear_modify, clear_reference) and pmap_test_attrs, attributes that outlive
 * the mappings, pmap_ts_referenced, pmap_zero_page and pmap_copy_page.
 */
import { PAGE_SIZE, PMAP_WIRED, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, RWX, userPa } from "./support/host.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: page-centric calls", (name) => {
  it("pmap_page_protect(NONE) removes every mapping, in every pmap, wired ones included", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    b.activate(1);
    const pg = sys.host.page();
    a.enter(VA, pg, RW, 0);
    a.enter(VA + PAGE_SIZE, pg, RW, PMAP_WIRED);
    b.enter(VA, pg, RW, 0);
    const kva = sys.host.kvaAlloc(PAGE_SIZE);
    sys.pmap.kernelPmap.enter(kva, pg, RW, PMAP_WIRED);
    expect(userPa(sys, 1, VA)).toBe(pg.pa);
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.None));
    expect(userPa(sys, 0, VA)).toBe("fault");
    expect(userPa(sys, 0, VA + PAGE_SIZE)).toBe("fault");
    expect(userPa(sys, 1, VA)).toBe("fault");
    expect(sys.pmap.kernelPmap.extract(kva)).toBeUndefined();
    expect(a.wiredCount).toBe(0);
    expect(sys.pmap.pv.peek(pg)?.list).toBeNull();
    sys.check();
  });

  it("pmap_page_protect(READ) write-protects every mapping (and sets NX where there is NX)", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    b.activate(1);
    const pg = sys.host.page();
    a.enter(VA, pg, RWX, 0);
    b.enter(VA, pg, RWX, 0);
    expect(userPa(sys, 1, VA, "write")).toBe(pg.pa);
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.Read));
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(userPa(sys, 1, VA, "write")).toBe("fault");
    expect(userPa(sys, 1, VA)).toBe(pg.pa);
    expect(userPa(sys, 1, VA, "exec")).toBe(name === "i386" ? pg.pa : "fault");
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.Read | Prot.Exec));
    expect(userPa(sys, 1, VA, "write")).toBe("fault");
    sys.check();
  });

  it("modified and referenced: set by the MMU, tested, cleared, and kept after the mapping goes", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    const pg = sys.host.page();
    a.enter(VA, pg, RW, 0);
    b.enter(VA, pg, RW, 0);
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(sys.pmap.isReferenced(pg)).toBe(false);
    expect(userPa(sys, 0, VA)).toBe(pg.pa);
    expect(sys.pmap.isReferenced(pg)).toBe(true);
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa);
    expect(sys.pmap.isModified(pg)).toBe(true);
    expect(sys.pmap.clearModify(pg)).toBe(true);
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(sys.pmap.clearModify(pg)).toBe(false);
    // the TLB entry was invalidated: the next write sets PG_M again
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa);
    expect(sys.pmap.isModified(pg)).toBe(true);
    a.remove(VA, VA + PAGE_SIZE); // the bit survives in the page's attributes
    expect(sys.pmap.isModified(pg)).toBe(true);
    expect(sys.pmap.clearModify(pg)).toBe(true);
    expect(sys.pmap.isModified(pg)).toBe(false);
    expect(sys.pmap.clearReference(pg)).toBe(true);
    expect(sys.pmap.isReferenced(pg)).toBe(false);
    sys.check();
  });

  it("pmap_ts_referenced counts and clears the reference bits", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    b.activate(1);
    const pg = sys.host.page();
    a.enter(VA, pg, RW, 0);
    b.enter(VA, pg, RW, 0);
    userPa(sys, 0, VA);
    userPa(sys, 1, VA);
    expect(sys.on(0, () => sys.pmap.tsReferenced(pg))).toBe(2);
    expect(sys.pmap.tsReferenced(pg)).toBe(0);
    userPa(sys, 1, VA); // CPU 1's TLB was shot down: the walk sets PG_A again
    expect(sys.pmap.tsReferenced(pg)).toBe(1);
    sys.check();
  });

  it("pmap_zero_page and pmap_copy_page through the per-CPU special pages", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const mem = sys.machine.memory;
    const src = sys.host.page();
    const dst = sys.host.page();
    mem.write32(src.pa + 16, 0xfeedface);
    mem.write32(dst.pa + 32, 0x1234);
    sys.on(1, () => sys.pmap.copyPage(src, dst));
    expect(mem.read32(dst.pa + 16)).toBe(0xfeedface);
    expect(mem.read32(dst.pa + 32)).toBe(0);
    sys.on(0, () => sys.pmap.zeroPage(src));
    expect(mem.read32(src.pa + 16)).toBe(0);
    expect(sys.counter("pmap.copy_page")).toBe(1);
    sys.check();
  });
});
