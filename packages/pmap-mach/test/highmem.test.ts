/**
 * Frames above 4 GiB (PAE: 36-bit, amd64: 40-bit physical addresses): entries whose high half
 * carries frame bits — user pages, page tables, pv pages, and on amd64 the top-level tables
 * themselves — through both windows, the temporary mappings and the audit.
 */
import { PAGE_SIZE, Prot } from "@vmlab/core";
import type { MachineName } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { bootSystem, RW, type TestPage, userPa } from "./support/toy.js";

const VA = 0x40_0000;
const FOUR_G = 0x1_0000_0000;

describe.each<[MachineName, "tables" | "all"]>([
  ["i386-pae", "tables"],
  ["amd64", "all"],
])("%s: frames above 4 GiB", (name, high) => {
  it("maps, shares, protects and removes pages above 4 GiB with page tables above 4 GiB", () => {
    const sys = bootSystem(name, { memoryMiB: 3076, high });
    const a = sys.create();
    const b = sys.create();
    if (high === "all") expect(a.cr3).toBeGreaterThanOrEqual(FOUR_G);
    else expect(a.cr3).toBeLessThan(FOUR_G);
    a.activate(0);
    b.activate(1);
    const pg = sys.vm.page() as TestPage;
    expect(pg.pa).toBeGreaterThanOrEqual(FOUR_G);
    sys.on(0, () => {
      a.enter(VA, pg, RW, 0);
      b.enter(VA + PAGE_SIZE, pg, RW, 0); // through APTmap
      b.enter(VA + 2 * PAGE_SIZE, pg, RW, 0); // a chained pv entry in a pv page above 4 GiB
    });
    const ptva = sys.pmap.win.ptw.tablePageVa(VA, 0);
    expect(a.extract(ptva)).toBeGreaterThanOrEqual(FOUR_G);
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa);
    expect(userPa(sys, 1, VA + PAGE_SIZE)).toBe(pg.pa);
    expect(sys.on(0, () => b.extract(VA + 2 * PAGE_SIZE))).toBe(pg.pa);
    sys.pmap.audit();
    sys.machine.memory.write32(pg.pa, 77);
    const copy = sys.vm.page();
    sys.pmap.copyPage(pg, copy);
    expect(sys.machine.memory.read32(copy.pa)).toBe(77);
    sys.on(1, () => sys.pmap.pageProtect(pg, Prot.Read));
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(userPa(sys, 1, VA + PAGE_SIZE, "exec")).toBe("fault");
    expect(sys.pmap.isModified(pg)).toBe(true);
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.None));
    expect(userPa(sys, 1, VA + PAGE_SIZE)).toBe("fault");
    sys.pmap.audit();
    for (const pm of [a, b]) {
      sys.vm.releasePageTables(pm);
      pm.destroy();
    }
    sys.pmap.audit();
  });
});

describe("i386-pae: the PDPT lies below 4 GiB (CR3 is 32 bits in PAE mode)", () => {
  it("pinit skips kmem pages above 4 GiB for the PDPT, and panics when there is none", () => {
    const sys = bootSystem("i386-pae", { memoryMiB: 3076, high: "tables" });
    expect(sys.create().cr3).toBeLessThan(FOUR_G);
    sys.vm.high = "all";
    expect(() => sys.create()).toThrow(/no page below 4 GiB for the PDPT/);
  });
});
