import { INHERIT_NONE, KERN_INVALID_ADDRESS, KERN_SUCCESS, PAGE_SIZE, Prot } from "@vmlab/core";
import { PT_SPAN, UPT_LAYOUT } from "@vmlab/testkit";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

for (const uptMode of ["trap", "pmap"] as const) {
  describe(`page-table pages in the user map (4.4BSD i386 UPT region, faulted by ${uptMode})`, () => {
    it("reserves [uptMin, uptMax) as an RW, never-inherited system entry", () => {
      const t = new TestSystem({ layout: UPT_LAYOUT, uptMode });
      const s = t.spawn() as MachSpace;
      const e = s.map.entries();
      expect(e).toHaveLength(1);
      expect(e[0]?.start).toBe(UPT_LAYOUT.uptMin);
      expect(e[0]?.end).toBe(UPT_LAYOUT.uptMax);
      expect(e[0]?.protection).toBe(RW);
      expect(e[0]?.maxProtection).toBe(RW);
      expect(e[0]?.inheritance).toBe(INHERIT_NONE);
      expect(e[0]?.system).toBe(true);
      t.audit();
    });

    it("never returns UPT addresses from find-space, and refuses user operations on them", () => {
      const t = new TestSystem({ layout: UPT_LAYOUT, uptMode });
      const s = t.spawn();
      const a = t.mmap(s, P, { addr: UPT_LAYOUT.uptMin });
      expect(a).toBeLessThan(UPT_LAYOUT.userMax);
      expect(t.vm.unmap(s, UPT_LAYOUT.uptMin, P)).toBe(KERN_INVALID_ADDRESS);
      expect(t.vm.protect(s, UPT_LAYOUT.uptMin, P, Prot.Read, false)).toBe(KERN_INVALID_ADDRESS);
      expect(
        t.vm.map(s, {
          addr: UPT_LAYOUT.uptMin,
          len: P,
          prot: RW,
          maxProt: RW,
          fixed: true,
          shared: false,
          inheritance: 1,
          wired: false,
        }).rv,
      ).toBe(KERN_INVALID_ADDRESS);
      t.audit();
    });

    it("faults and wires one page-table page per 4 MiB of touched user memory", () => {
      const t = new TestSystem({ layout: UPT_LAYOUT, uptMode });
      const s = t.spawn();
      const a = t.mmap(s, 2 * PT_SPAN, { addr: 0x4000_0000 });
      t.store8(s, a, 1);
      t.store8(s, a + P, 2);
      t.store8(s, a + PT_SPAN, 3);
      expect(t.vm.wiredPages).toBe(1 + 2); // page directory + two page-table pages
      const ptva = t.pmap.ptOf(a);
      expect(t.pmapOf(s).maps.get(ptva)?.wired).toBe(true);
      const upt = (s as MachSpace).map.entries().filter((e) => e.system);
      expect(upt.filter((e) => e.wiredCount > 0)).toHaveLength(2);
      t.audit();
    });

    it("mlock of memory whose page tables are missing faults them in on the way", () => {
      const t = new TestSystem({ layout: UPT_LAYOUT, uptMode });
      const s = t.spawn();
      const a = t.mmap(s, 4 * P, { addr: 0x5000_0000 });
      if (uptMode === "trap") {
        // trap.c faults page tables only for user faults: wiring needs them in place first.
        expect(t.faultPageTable(s, t.pmap.ptOf(a))).toBe(true);
      }
      expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
      expect(t.vm.userWiredPages(s)).toBe(4);
      t.audit();
    });

    it("the child of a fork starts without page tables, and exit frees them all", () => {
      const t = new TestSystem({ layout: UPT_LAYOUT, uptMode });
      const free0 = t.vm.freePages;
      const p = t.spawn();
      const a = t.mmap(p, 2 * P, { addr: 0x4000_0000 });
      t.fillPages(p, a, 2 * P, 5);
      const c = t.fork(p);
      expect(t.pmapOf(c).maps.size).toBe(0);
      expect(t.readPages(c, a, 2 * P)).toEqual([5, 5]);
      t.store8(c, a, 6);
      expect(t.load8(p, a)).toBe(5);
      t.audit();
      t.exit(c);
      t.exit(p);
      t.audit();
      expect(t.vm.freePages).toBe(free0);
      expect(t.vm.wiredPages).toBe(0);
    });
  });
}
