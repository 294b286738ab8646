/**
 * Frames above 4 GiB (PAE: 36-bit, amd64: 40-bit physical addresses): mappings, page-table pages,
 * pv pages and (amd64, or PAE's page directories) top-level tables whose entries carry frame bits
 * in the high half — through both windows, the special pages and the audit. The PAE PDPT itself
 * must stay below 4 GiB: CR3 is a 32-bit register in PAE mode.
 */
import { PAGE_SIZE, Prot } from "@vmlab/core";
import type { MachineName } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { bootSystem, panicText, RW, userPa } from "./support/host.js";

const VA = 0x40_0000;
const FOUR_G = 0x1_0000_0000;

describe.each<MachineName>(["i386-pae", "amd64"])("%s: frames above 4 GiB", (name) => {
  it("maps, shares, protects and removes pages above 4 GiB with tables above 4 GiB", () => {
    const sys = bootSystem(name, { memoryMiB: 3076 });
    sys.host.highFirst = true;
    sys.host.highKmem = name === "amd64";
    const a = sys.create();
    const b = sys.create();
    if (name === "amd64") expect(a.cr3).toBeGreaterThanOrEqual(FOUR_G);
    else expect(a.cr3).toBeLessThan(FOUR_G);
    a.activate(0);
    b.activate(1);
    const pg = sys.host.page();
    expect(pg.pa).toBeGreaterThanOrEqual(FOUR_G);
    sys.on(0, () => {
      a.enter(VA, pg, RW, 0);
      b.enter(VA + PAGE_SIZE, pg, RW, 0); // through APTE_BASE
    });
    const ptp = a.obj[0]?.values().next().value;
    expect(ptp?.pa).toBeGreaterThanOrEqual(FOUR_G);
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa);
    expect(userPa(sys, 1, VA + PAGE_SIZE)).toBe(pg.pa);
    sys.check();
    const copy = sys.host.page();
    sys.machine.memory.write32(pg.pa, 77);
    sys.pmap.copyPage(pg, copy);
    expect(sys.machine.memory.read32(copy.pa)).toBe(77);
    sys.on(1, () => sys.pmap.pageProtect(pg, Prot.Read));
    expect(userPa(sys, 0, VA, "write")).toBe("fault");
    expect(sys.pmap.isModified(pg)).toBe(true);
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.None));
    expect(userPa(sys, 1, VA + PAGE_SIZE)).toBe("fault");
    sys.check();
    sys.pmap.kernelPmap.activate(0);
    sys.pmap.kernelPmap.activate(1);
    a.destroy();
    b.destroy();
    sys.check();
  });
});

describe("i386-pae: the PDPT lies below 4 GiB", () => {
  it("pmap_pinit skips kmem pages above 4 GiB for the PDPT, and panics when there is none", () => {
    const sys = bootSystem("i386-pae", { memoryMiB: 3076 });
    sys.host.highFirst = true;
    expect(sys.create().cr3).toBeLessThan(FOUR_G);
    sys.host.highKmem = true;
    expect(panicText(() => sys.create())).toBe("pmap_pinit: no page below 4 GiB for the PDPT");
  });
});
