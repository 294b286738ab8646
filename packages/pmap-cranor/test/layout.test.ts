/**
 * The three layouts (pmap.h / vmparam.h): slots, window bases, KERNBASE, the u-area just below
 * the recursive slot, and what pmap_bootstrap leaves mapped.
 */
import { PAGE_SIZE } from "@vmlab/core";
import { RecursiveWindow } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { AMD64_LAYOUT, I386_LAYOUT, I386_PAE_LAYOUT } from "../src/index.js";
import { bootSystem, kernPa, MACHINES, userPa } from "./support/host.js";

describe("layouts", () => {
  it("i386 is NetBSD's: PDSLOT_PTE 767, PDSLOT_KERN 768, PDSLOT_APTE 1023, KERNBASE 0xC0000000", () => {
    const L = I386_LAYOUT;
    expect([L.slotPte, L.slotKern, L.slotApte]).toEqual([767, 768, 1023]);
    expect(L.layout.ptmap).toBe(0xbfc0_0000); // PTE_BASE
    expect(L.pdpBase).toBe(0xbfef_f000); // PDP_BASE
    expect(L.layout.aptmap).toBe(0xffc0_0000); // APTE_BASE
    expect(L.layout.kernelBase).toBe(0xc000_0000);
    expect(L.layout.userMax).toBe(0xbfbf_e000); // VM_MAXUSER_ADDRESS
    expect(L.layout.uareaVa).toBe(0xbfbf_e000);
    expect(L.layout.kernelMax).toBe(0xffc0_0000); // VM_MAX_KERNEL_ADDRESS = APTE_BASE
    expect(L.pvePerPvpage).toBe(255);
  });

  it("PAE: four recursive slots below KERNBASE, four alternate slots at the top", () => {
    const L = I386_PAE_LAYOUT;
    expect([L.slotPte, L.slotKern, L.slotApte, L.pdpSize]).toEqual([1532, 1536, 2044, 4]);
    expect(L.layout.ptmap).toBe(0xbf80_0000);
    expect(L.layout.aptmap).toBe(0xff80_0000);
    expect(L.layout.userMax).toBe(0xbf7f_e000);
    expect(L.pdpBase).toBe(0xbf80_0000 + 1532 * 4096);
  });

  it("amd64: slot 255 recursive, 510 alternate, 511 kernel (48-bit unsigned addresses)", () => {
    const L = AMD64_LAYOUT;
    expect([L.slotPte, L.slotApte, L.slotKern]).toEqual([255, 510, 511]);
    expect(L.layout.ptmap).toBe(0x7f80_0000_0000);
    expect(L.layout.aptmap).toBe(0xff00_0000_0000);
    expect(L.layout.kernelBase).toBe(0xffff_8000_0000);
    expect(L.layout.userMax).toBe(0x7f7f_ffff_e000);
    expect(L.pvePerPvpage).toBe(127);
  });

  for (const L of [I386_LAYOUT, I386_PAE_LAYOUT, AMD64_LAYOUT]) {
    it(`${L.machine}: no page tables in the user map; u-area right below PTE_BASE; kernel_map in the kernel slots`, () => {
      const l = L.layout;
      expect(l.uptMin).toBe(l.uptMax);
      expect(l.mapMax).toBe(l.ptmap);
      expect(l.uareaVa + l.uareaPages * PAGE_SIZE).toBe(l.ptmap);
      expect(l.userMax).toBeLessThanOrEqual(l.uareaVa);
      const slot = L.layout.ptmap / L.slotPte;
      expect(l.kernelBase).toBeGreaterThanOrEqual(L.slotKern * slot);
      expect(l.kernelMin).toBeGreaterThan(l.kernelBase);
      expect(l.kernelMax).toBeLessThanOrEqual((L.slotKern + L.nslotKern) * slot);
    });
  }
});

describe.each(MACHINES)("%s: pmap_bootstrap", (name) => {
  it("maps physical [0, 4 MiB) at KERNBASE, supervisor-only, and builds both windows", () => {
    const sys = bootSystem(name);
    const l = sys.pmap.layout;
    for (const pa of [0, 0x10_0000, 0x3f_f000]) expect(kernPa(sys, 0, l.kernelBase + pa)).toBe(pa);
    expect(userPa(sys, 0, l.kernelBase)).toBe("fault");
    // the special pages after the image are not mapped until used
    expect(kernPa(sys, 0, sys.pmap.L.specialVa)).toBe("fault");
    const f = sys.machine.format;
    expect(new RecursiveWindow(f, sys.pmap.L.slotPte, sys.pmap.L.slotPte).base).toBe(l.ptmap);
    // The recursive slot shows the top-level table at PDP_BASE
    const pdp = sys.pmap.L.pdpBase + sys.pmap.L.slotPte * sys.pmap.L.entryBytes;
    const lo = sys.on(0, () => sys.cpu(0).load32(pdp, false));
    expect(lo & ~0xfff).toBe((sys.pmap.kernelPmap.pdirPa[0] as number) & ~0xfff);
    sys.check();
  });

  it("pmap_growkernel adds kernel page tables and copies new top-level entries into every pmap", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const before = sys.pmap.kernelPtEnd;
    const va = sys.host.kvaAlloc(8 * 1024 * 1024); // grows past the bootstrap tables
    expect(sys.pmap.kernelPtEnd).toBeGreaterThan(before);
    const b = sys.create();
    const pg = sys.host.page();
    sys.pmap.kenter(va + 7 * 1024 * 1024, pg.pa, 3);
    a.activate(0);
    b.activate(1);
    expect(kernPa(sys, 0, va + 7 * 1024 * 1024)).toBe(pg.pa);
    expect(kernPa(sys, 1, va + 7 * 1024 * 1024)).toBe(pg.pa);
    sys.check();
  });
});
