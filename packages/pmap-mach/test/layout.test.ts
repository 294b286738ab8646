/**
 * vmparam.h per machine and pmap_bootstrap: the decided layouts, the recursive window geometry,
 * the kernel's tables and the CPU control state after bootstrap.
 */
import { PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { AMD64_LAYOUT, I386_LAYOUT, I386_PAE_LAYOUT, machLayout } from "../src/index.js";
import { bootSystem, MACHINES } from "./support/toy.js";

describe("layouts (vmparam.h)", () => {
  it("i386 is 4.4BSD's: PTmap 0xFDC00000, PTD 0xFDFF7000, APTmap 0xFF800000, KERNBASE 0xFE000000", () => {
    const l = I386_LAYOUT.layout;
    expect(l).toMatchObject({
      ptmap: 0xfdc0_0000,
      aptmap: 0xff80_0000,
      kernelBase: 0xfe00_0000,
      kernelMin: 0xfe40_0000,
      kernelMax: 0xff80_0000,
      uareaVa: 0xfdbf_e000,
      uareaPages: 2,
      userMin: 0x1000,
      userMax: 0xfdbf_e000,
      uptMin: 0xfdc0_0000,
      uptMax: 0xfdff_7000,
      mapMax: 0xfdff_7000,
    });
    expect(I386_LAYOUT.ptd).toBe(0xfdff_7000);
    expect(I386_LAYOUT.npvppg).toBe(255);
  });

  it("i386-pae: PTmap 0xFD800000 (8 MiB), PTD 0xFDFEC000, APTmap 0xFF800000", () => {
    const l = I386_PAE_LAYOUT.layout;
    expect(l).toMatchObject({
      ptmap: 0xfd80_0000,
      aptmap: 0xff80_0000,
      kernelBase: 0xfe00_0000,
      kernelMin: 0xfe40_0000,
      kernelMax: 0xff80_0000,
      uareaVa: 0xfd7f_e000,
      userMax: 0xfd7f_e000,
      uptMin: 0xfd80_0000,
      uptMax: 0xfdfe_c000,
      mapMax: 0xfdfe_c000,
    });
    expect(I386_PAE_LAYOUT.ptd).toBe(0xfdfe_c000);
  });

  it("amd64: PTmap at PML4 255, APTmap at 510, KERNBASE 0xffffffff80000000 (as 48-bit)", () => {
    const l = AMD64_LAYOUT.layout;
    expect(l).toMatchObject({
      ptmap: 0x7f80_0000_0000,
      aptmap: 0xff00_0000_0000,
      kernelBase: 0xffff_8000_0000,
      kernelMin: 0xffff_8040_0000,
      kernelMax: 0xffff_8400_0000,
      uareaVa: 0x7f7f_ffff_e000,
      userMax: 0x7f7f_ffff_e000,
      uptMin: 0x7f80_0000_0000,
      // UPT_MAX_ADDRESS = PTD, as on i386: the user PTs, PDs and PDPTs are the runs below it.
      uptMax: 0x7fbf_dfef_f000,
      mapMax: 0x7fbf_dfef_f000,
    });
    expect(AMD64_LAYOUT.ptd).toBe(0x7fbf_dfef_f000);
    expect(AMD64_LAYOUT.npvppg).toBe(127);
    expect(machLayout("amd64")).toBe(AMD64_LAYOUT);
  });
});

describe.each(MACHINES)("%s: pmap_bootstrap", (name) => {
  it("loads the kernel tables on every CPU with WP, PGE and PSE/NXE", () => {
    const sys = bootSystem(name, { cpus: 3 });
    const kp = sys.pmap.kernelPmap;
    for (const c of sys.machine.cpus) {
      expect(c.cr3).toBe(kp.cr3);
      expect(c.wp).toBe(true);
      expect(c.pge).toBe(true);
      expect(c.nxe).toBe(name !== "i386");
      if (name === "i386") expect(c.pse).toBe(true);
    }
    for (const pa of sys.stolen) expect(pa).toBeLessThan(4 * 1024 * 1024);
    expect(sys.pmap.stolen).toEqual(sys.stolen);
    sys.pmap.audit();
  });

  it("maps physical [0, 4 MiB) at KERNBASE and reaches its own tables through PTmap", () => {
    const sys = bootSystem(name);
    const l = sys.pmap.layout;
    const cpu = sys.cpu(1);
    sys.machine.memory.write32(0x2_0000, 0xfeedface);
    expect(sys.on(1, () => cpu.load32(l.kernelBase + 0x2_0000, false))).toBe(0xfeedface);
    expect(sys.on(1, () => cpu.load32(l.kernelBase + 0x3f_f000, false))).toBe(0);
    // The PTE of KERNBASE, read through PTmap, names frame 0.
    expect(sys.pmap.kernelPmap.extract(l.kernelBase + 0x5000)).toBe(0x5000);
    // Every kernel page table exists: the whole kernel range has PTEs (empty ones above 4 MiB).
    expect(sys.pmap.missingPageTables(sys.pmap.kernelPmap, l.kernelMax - PAGE_SIZE)).toEqual([]);
    expect(sys.pmap.kernelPmap.extract(l.kernelMax - PAGE_SIZE)).toBeUndefined();
    // User mode cannot touch the kernel.
    expect(sys.on(1, () => cpu.translate(l.kernelBase, { access: "read", user: true }))).toHaveProperty("fault");
  });

  it("growKernel checks the bound only", () => {
    const sys = bootSystem(name);
    sys.pmap.growKernel(sys.pmap.layout.kernelMax);
    expect(() => sys.pmap.growKernel(sys.pmap.layout.kernelMax + PAGE_SIZE)).toThrow(/pmap_growkernel/);
  });

  it("kenter and kremove work over the whole kernel_map range", () => {
    const sys = bootSystem(name);
    const l = sys.pmap.layout;
    const pg = sys.vm.page();
    for (const va of [l.kernelMin, l.kernelMax - PAGE_SIZE]) {
      sys.pmap.kenter(va, pg.pa, Prot.Read | Prot.Write);
      sys.on(0, () => sys.cpu(0).store32(va + 4, 0x1234, false));
      expect(sys.machine.memory.read32(pg.pa + 4)).toBe(0x1234);
      sys.pmap.kremove(va, 1);
      expect(sys.pmap.kernelPmap.extract(va)).toBeUndefined();
    }
    expect(() => sys.pmap.kenter(l.kernelMax, pg.pa, Prot.Read)).toThrow(/pmap_kenter_pa/);
  });
});
