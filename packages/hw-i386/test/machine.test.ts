/**
 * The i386 machines: the factories and their limits, the two paging formats' walks (SDM Vol. 3A
 * 4.3 32-bit paging, 4.4 PAE paging), the PAE PDPTE registers, NX, reserved bits, and the physical
 * layout with RAM above 4 GiB reached through PAE entries.
 */
import { ConfigError } from "@vmlab/core";
import {
  type Cpu,
  CpuException,
  DEFAULT_COSTS,
  DEFAULT_TLB,
  HOLE_END,
  HOLE_START,
  LARGE_ALWAYS,
  LARGE_IF_PSE,
  LARGE_NEVER,
  type Machine,
  MachineCheck,
  MachineSpec,
  PFERR_ID,
  PFERR_P,
  PFERR_RSVD,
  PFERR_U,
  PFERR_W,
  PG_A,
  PG_M,
  PG_NX_HI,
  PG_PS,
  PG_RW,
  PG_U,
  PG_V,
  VEC_GP,
  VEC_PF,
} from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { I386_FORMAT, I386_PAE_FORMAT, i386, i386Pae } from "../src/index.js";

const GiB = 2 ** 30;
const URW = PG_V | PG_RW | PG_U;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

const pf = (errorCode: number, va: number) => ({ fault: { vector: VEC_PF, errorCode, va } });
const read = { access: "read", user: false } as const;
const uread = { access: "read", user: true } as const;
const write = { access: "write", user: false } as const;
const uwrite = { access: "write", user: true } as const;
const exec = { access: "exec", user: false } as const;
const uexec = { access: "exec", user: true } as const;

// ------------------------------------------------------------------------------------------------

describe("factories", () => {
  it("i386() and i386Pae() return specs for their format with the default options", () => {
    const a = i386();
    const b = i386Pae();
    expect(a).toBeInstanceOf(MachineSpec);
    expect(b).toBeInstanceOf(MachineSpec);
    expect([a.name, b.name]).toEqual(["i386", "i386-pae"]);
    expect(a.format).toBe(I386_FORMAT);
    expect(b.format).toBe(I386_PAE_FORMAT);
    for (const s of [a, b]) {
      expect(s.options).toEqual({ memoryMiB: 64, cpus: 1, tlb: { ...DEFAULT_TLB }, costs: { ...DEFAULT_COSTS } });
    }
    expect([a.traits.maxMemoryMiB, b.traits.maxMemoryMiB]).toEqual([3072, 4096]);
    const m = i386Pae({ memoryMiB: 8, cpus: 4 }).boot();
    expect(m.name).toBe("i386-pae");
    expect(m.memory.sizeBytes).toBe(8 * 2 ** 20);
    expect(m.cpus.map((c) => c.format)).toEqual(Array(4).fill(I386_PAE_FORMAT));
  });

  it("describe 32-bit paging and PAE paging as the SDM does", () => {
    expect(I386_FORMAT).toMatchObject({
      entryBytes: 4,
      vaBits: 32,
      maxPhysBits: 32,
      hasNx: false,
      pdpteRegisters: false,
    });
    expect(I386_FORMAT.levels.map((l) => [l.name, l.shift, l.indexBits, l.large])).toEqual([
      ["PDE", 22, 10, LARGE_IF_PSE],
      ["PTE", 12, 10, LARGE_NEVER],
    ]);
    expect(I386_PAE_FORMAT).toMatchObject({
      entryBytes: 8,
      vaBits: 32,
      maxPhysBits: 36,
      hasNx: true,
      pdpteRegisters: true,
    });
    expect(I386_PAE_FORMAT.levels.map((l) => [l.name, l.shift, l.indexBits, l.large])).toEqual([
      ["PDE", 21, 9, LARGE_ALWAYS],
      ["PTE", 12, 9, LARGE_NEVER],
    ]);
  });

  it.each([0, 3073, -1, 2.5])("i386 refuses memoryMiB %s", (v) => {
    const e = configError(() => i386({ memoryMiB: v }));
    expect(e.field).toBe("memoryMiB");
    expect(e.value).toBe(v);
    expect(e.accepted).toBe(
      "an integer from 1 to 3072 on i386 (32-bit paging addresses 4 GiB and the PCI hole takes 3-4 GiB; use i386-pae for more)",
    );
  });

  it.each([0, 4097])("i386-pae refuses memoryMiB %s", (v) => {
    const e = configError(() => i386Pae({ memoryMiB: v }));
    expect(e.field).toBe("memoryMiB");
    expect(e.accepted).toBe(
      "an integer from 1 to 4096 on i386-pae (the simulator backs RAM with one typed array of at most 4 GiB)",
    );
  });

  it("accepts the largest sizes (checked without booting)", () => {
    expect(i386({ memoryMiB: 3072 }).options.memoryMiB).toBe(3072);
    expect(i386Pae({ memoryMiB: 4096 }).options.memoryMiB).toBe(4096);
  });

  it.each([0, 33])("refuses cpus %s", (cpus) => {
    for (const f of [i386, i386Pae]) {
      const e = configError(() => f({ cpus }));
      expect(e.field).toBe("cpus");
      expect(e.accepted).toBe("an integer from 1 to 32");
    }
  });

  it("refuses bad TLB geometry", () => {
    expect(configError(() => i386({ tlb: { smallSets: 12 } })).field).toBe("tlb.smallSets");
    expect(configError(() => i386Pae({ tlb: { smallWays: 0 } })).field).toBe("tlb.smallWays");
    expect(configError(() => i386Pae({ tlb: { largeEntries: 1000 } })).field).toBe("tlb.largeEntries");
  });
});

// ------------------------------------------------------------------------------------------------

/** 32-bit paging: PD at 0x1000, one page table at 0x2000 for linear 4-8 MiB. */
function boot32(memoryMiB = 16): { m: Machine; cpu: Cpu; pd: number; pt: number } {
  const m = i386({ memoryMiB }).boot();
  const pd = 0x1000;
  const pt = 0x2000;
  m.memory.write32(pd + 4 * 1, pt | URW);
  const cpu = m.cpus[0] as Cpu;
  cpu.setControl({ cr3: pd });
  return { m, cpu, pd, pt };
}

describe("i386: 32-bit paging", () => {
  it("translates a 4 KiB page end to end and sets A and D", () => {
    const { m, cpu, pt } = boot32();
    const frame = 0x20_0000;
    m.memory.write32(pt + 2 * 4, frame | URW);
    const va = (1 << 22) | (2 << 12) | 0x123;
    expect(cpu.translate(va, uwrite)).toEqual({ pa: frame + 0x123 });
    expect(m.memory.read32(pt + 8) & (PG_A | PG_M)).toBe(PG_A | PG_M);
    expect(cpu.store32(va & ~3, 0xdeadbeef, true)).toBe(true);
    expect(cpu.load32(va & ~3, true)).toBe(0xdeadbeef);
    expect(m.memory.read32(frame + 0x120)).toBe(0xdeadbeef);
    // Unaligned and narrow accesses go byte by byte through the same translation.
    expect(cpu.store16(va, 0xbeef, true)).toBe(true);
    expect(cpu.load16(va, true)).toBe(0xbeef);
    expect(cpu.load8(va + 1, true)).toBe(0xbe);
    expect(cpu.store8(va + 2, 0x5a, false)).toBe(true);
    expect(m.memory.read8(frame + 0x125)).toBe(0x5a);
  });

  it("faults with the SDM error code: P, W/R, U/S; no I/D without SMEP (no NX in 32-bit paging)", () => {
    const { m, cpu, pt } = boot32();
    const va = 0x40_3000;
    expect(cpu.translate(va, read)).toEqual(pf(0, va));
    expect(cpu.translate(va, uwrite)).toEqual(pf(PFERR_W | PFERR_U, va));
    expect(cpu.translate(va, uexec)).toEqual(pf(PFERR_U, va));
    m.memory.write32(pt + 3 * 4, 0x30_0000 | PG_V);
    expect(cpu.translate(va + 4, uread)).toEqual(pf(PFERR_P | PFERR_U, va + 4));
    expect(cpu.translate(va, exec)).toEqual({ pa: 0x30_0000 }); // readable = executable
    cpu.setControl({ smep: true });
    expect(cpu.translate(va, write)).toEqual({ pa: 0x30_0000 }); // WP=0
    m.memory.write32(pt + 3 * 4, 0x30_0000 | URW);
    cpu.invlpg(va);
    expect(cpu.translate(va, exec)).toEqual(pf(PFERR_P | PFERR_ID, va)); // SMEP: I/D reported
    expect(cpu.translate(0x1_0000, read)).toEqual(pf(0, 0x1_0000)); // PDE 0 not present
  });

  it("refuses EFER.NXE (#GP): 32-bit paging has no XD bit", () => {
    const { cpu } = boot32();
    expect(() => cpu.setControl({ nxe: true })).toThrow(CpuException);
    try {
      cpu.setControl({ nxe: true });
    } catch (e) {
      expect((e as CpuException).vector).toBe(VEC_GP);
    }
    expect(cpu.nxe).toBe(false);
  });

  it("maps 4 MiB pages with CR4.PSE, and ignores PS (a page-table pointer) without it", () => {
    const { m, cpu, pd } = boot32();
    const pde = pd + 4 * 2; // linear 8-12 MiB
    m.memory.write32(pde, 0x40_0000 | URW | PG_PS);
    // Without PSE, the PDE names a page table at 4 MiB: its entry 5 maps linear 8 MiB + 5 pages.
    m.memory.write32(0x40_0000 + 5 * 4, 0x7000 | URW);
    expect(cpu.translate(0x80_5010, read)).toEqual({ pa: 0x7010 });
    expect(cpu.translate(0x80_6000, read)).toEqual(pf(0, 0x80_6000));
    cpu.setControl({ pse: true }); // flushes the TLB
    expect(cpu.translate(0x80_5010, read)).toEqual({ pa: 0x40_5010 });
    expect(cpu.translate(0xbf_fffc, read)).toEqual({ pa: 0x7f_fffc });
    expect(cpu.tlbEntries()).toMatchObject([{ va: 0x80_0000, pa: 0x40_0000, size: 4 * 2 ** 20 }]);
  });

  it("4 MiB PDE: bits 21:13 are reserved (no PSE-36), bit 12 (PAT) is not an address bit", () => {
    const { m, cpu, pd } = boot32();
    cpu.setControl({ pse: true });
    const pde = pd + 4 * 2;
    m.memory.write32(pde, 0x40_0000 | URW | PG_PS | 0x1000); // PAT
    expect(cpu.translate(0x80_0008, read)).toEqual({ pa: 0x40_0008 });
    for (const bit of [13, 16, 21]) {
      m.memory.write32(pde, 0x40_0000 | URW | PG_PS | (1 << bit));
      cpu.invlpg(0x80_0000);
      expect(cpu.translate(0x80_0000, uwrite)).toEqual(pf(PFERR_P | PFERR_RSVD | PFERR_W | PFERR_U, 0x80_0000));
      expect(m.memory.read32(pde) & PG_A).toBe(0);
    }
    // Without PSE the same PDE is a table pointer and those are address bits.
    cpu.setControl({ pse: false });
    expect(cpu.translate(0x80_0000, read)).toEqual(pf(0, 0x80_0000)); // its PTE 0 is zero
  });

  it("booted at the 3072 MiB limit: RAM is [0, 3 GiB), the last frame is reachable", () => {
    const m = i386({ memoryMiB: 3072 }).boot();
    expect(m.memory.ranges).toEqual([{ base: 0, size: 3 * GiB }]);
    expect(m.memory.topPa).toBe(HOLE_START);
    const cpu = m.cpus[0] as Cpu;
    m.memory.write32(0x1000 + 4 * 1023, 0x2000 | URW); // linear 4 GiB - 4 MiB
    m.memory.write32(0x2000 + 4 * 1023, (HOLE_START - 4096) | URW); // last page → last frame of RAM
    m.memory.write32(0x2000 + 4 * 1022, HOLE_START | URW); // → the PCI hole
    cpu.setControl({ cr3: 0x1000 });
    expect(cpu.store32(0xffff_fffc, 0x600d_f00d, false)).toBe(true);
    expect(m.memory.read32(HOLE_START - 4)).toBe(0x600d_f00d);
    expect(cpu.translate(0xffff_e000, read)).toEqual({ pa: HOLE_START });
    expect(() => cpu.load32(0xffff_e000, false)).toThrow(MachineCheck);
  });
});

// ------------------------------------------------------------------------------------------------

/** PAE: PDPT at 0x1000 (PDPTE 0 → PD at 0x2000), page table at 0x3000 for linear 4-6 MiB. */
function bootPae(memoryMiB = 16): { m: Machine; cpu: Cpu; pdpt: number; pd: number; pt: number } {
  const m = i386Pae({ memoryMiB }).boot();
  const pdpt = 0x1000;
  const pd = 0x2000;
  const pt = 0x3000;
  m.memory.write64(pdpt, pd | PG_V, 0);
  m.memory.write64(pd + 8 * 2, pt | URW, 0); // linear 4-6 MiB
  const cpu = m.cpus[0] as Cpu;
  cpu.setControl({ cr3: pdpt });
  return { m, cpu, pdpt, pd, pt };
}

describe("i386-pae: PAE paging", () => {
  it("translates a 4 KiB page through the PDPTE register, PDE and PTE", () => {
    const { m, cpu, pt } = bootPae();
    m.memory.write64(pt + 8 * 5, 0x30_0000 | URW, 0);
    const va = 0x40_5678;
    expect(cpu.translate(va, uwrite)).toEqual({ pa: 0x30_0678 });
    expect(m.memory.read64(pt + 8 * 5)).toEqual([0x30_0000 | URW | PG_A | PG_M, 0]);
  });

  it("reads the PDPTEs only at CR3 writes: neither a memory change nor INVLPG reloads them", () => {
    const { m, cpu, pdpt } = bootPae();
    const pd1 = 0x4000;
    const pt1 = 0x5000;
    m.memory.write64(pd1, pt1 | URW, 0);
    m.memory.write64(pt1, 0x9000 | URW, 0);
    const va = 0x4000_0000; // PDPTE 1
    expect(cpu.translate(va, read)).toEqual(pf(0, va));
    m.memory.write64(pdpt + 8, pd1 | PG_V, 0);
    cpu.invlpg(va);
    expect(cpu.translate(va, read)).toEqual(pf(0, va)); // still the old register
    cpu.setControl({ cr3: pdpt });
    expect(cpu.translate(va, read)).toEqual({ pa: 0x9000 });
    expect(Array.from(cpu.pdpteLo)).toEqual([0x2000 | PG_V, pd1 | PG_V, 0, 0]);
    m.memory.write64(pdpt + 8, 0, 0);
    cpu.flushTlb(); // a flush drops TLB entries but does not reload PDPTEs either
    expect(cpu.translate(va, read)).toEqual({ pa: 0x9000 });
    expect(m.memory.read64(pdpt + 8)).toEqual([0, 0]);
  });

  it("a present PDPTE with a reserved bit makes the CR3 load #GP and load nothing", () => {
    const { m, cpu, pdpt } = bootPae();
    const other = 0x6000;
    m.memory.write64(other, 0x2000 | PG_V, 0);
    for (const [lo, hi] of [
      [0x2000 | PG_V | PG_RW, 0], // bits 2:1
      [0x2000 | PG_V | PG_A, 0], // bits 8:5
      [0x2000 | PG_V, 0x10], // bit 36
      [0x2000 | PG_V, PG_NX_HI], // bit 63: reserved in a PDPTE even with NXE
    ] as const) {
      m.memory.write64(other + 8 * 3, lo, hi);
      let err: unknown;
      try {
        cpu.setControl({ cr3: other, nxe: true });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CpuException);
      expect((err as CpuException).vector).toBe(VEC_GP);
      expect(cpu.cr3).toBe(pdpt);
      expect(cpu.pdpteLo[3]).toBe(0);
    }
    // Not present: the other bits do not matter at load time.
    m.memory.write64(other + 8 * 3, 0xffff_fffe, 0xffff_ffff);
    cpu.setControl({ cr3: other });
    expect(cpu.cr3).toBe(other);
    expect(cpu.translate(0xc000_0000, read)).toEqual(pf(0, 0xc000_0000));
  });

  it("CR3 names a 32-byte-aligned PDPT", () => {
    const { m, cpu } = bootPae();
    m.memory.write64(0x1020, 0x2000 | PG_V, 0);
    m.memory.write64(0x3000 + 8 * 7, 0xa000 | URW, 0);
    cpu.setControl({ cr3: 0x1020 });
    expect(cpu.translate(0x40_7000, read)).toEqual({ pa: 0xa000 });
  });

  it("NX: XD faults instruction fetches with I/D set, combines by OR across levels, is reserved without NXE", () => {
    const { m, cpu, pd, pt } = bootPae();
    m.memory.write64(pt + 8 * 5, 0x30_0000 | URW, PG_NX_HI);
    const va = 0x40_5000;
    cpu.setControl({ nxe: true });
    expect(cpu.translate(va, read)).toEqual({ pa: 0x30_0000 });
    expect(cpu.translate(va, uexec)).toEqual(pf(PFERR_P | PFERR_U | PFERR_ID, va)); // 0x15
    expect(cpu.translate(va, exec)).toEqual(pf(PFERR_P | PFERR_ID, va)); // 0x11
    // A not-present fetch reports I/D too (NXE=1).
    expect(cpu.translate(0x40_6000, exec)).toEqual(pf(PFERR_ID, 0x40_6000));
    // XD in the PDE only.
    m.memory.write64(pt + 8 * 6, 0x31_0000 | URW, 0);
    m.memory.write64(pd + 8 * 2, 0x3000 | URW | PG_A, PG_NX_HI);
    cpu.flushTlb();
    expect(cpu.translate(0x40_6000, exec)).toEqual(pf(PFERR_P | PFERR_ID, 0x40_6000));
    expect(cpu.translate(0x40_6000, read)).toEqual({ pa: 0x31_0000 });
    expect(cpu.tlbEntries()).toMatchObject([{ va: 0x40_6000, noExec: true }]);
    // Without NXE, bit 63 is reserved: any access faults with RSVD, and I/D is not reported.
    cpu.setControl({ nxe: false });
    expect(cpu.translate(0x40_6000, exec)).toEqual(pf(PFERR_P | PFERR_RSVD, 0x40_6000));
    expect(cpu.translate(0x40_6000, read)).toEqual(pf(PFERR_P | PFERR_RSVD, 0x40_6000));
  });

  it("reserved bits: 62:36 in any entry, 20:13 in a 2 MiB PDE; bit 12 (PAT) of a 2 MiB PDE is not an address bit", () => {
    const { m, cpu, pd, pt } = bootPae();
    m.memory.write64(pt, 0x30_0000 | URW, 0x10); // bit 36
    expect(cpu.translate(0x40_0000, read)).toEqual(pf(PFERR_P | PFERR_RSVD, 0x40_0000));
    m.memory.write64(pt, 0x30_0000 | URW, 0x4000_0000); // bit 62
    expect(cpu.translate(0x40_0000, uread)).toEqual(pf(PFERR_P | PFERR_RSVD | PFERR_U, 0x40_0000));
    m.memory.write64(pt, 0x30_0000 | URW, 0xf); // bits 35:32: address
    expect(cpu.translate(0x40_0000, read)).toEqual({ pa: 0xf_0030_0000 });
    m.memory.write64(pd + 8 * 3, 0x3000 | URW, 0x20); // bit 37 in a table-pointing PDE
    expect(cpu.translate(0x60_0000, read)).toEqual(pf(PFERR_P | PFERR_RSVD, 0x60_0000));

    const pde = pd + 8 * 4; // linear 8-10 MiB
    m.memory.write64(pde, 0x60_0000 | URW | PG_PS | 0x1000, 0);
    expect(cpu.translate(0x80_1234, read)).toEqual({ pa: 0x60_1234 });
    for (const bit of [13, 20]) {
      m.memory.write64(pde, 0x60_0000 | URW | PG_PS | (1 << bit), 0);
      cpu.invlpg(0x80_0000);
      expect(cpu.translate(0x80_0000, write)).toEqual(pf(PFERR_P | PFERR_RSVD | PFERR_W, 0x80_0000));
    }
  });

  it("a mapped frame with no RAM behind it translates, and the access machine-checks", () => {
    const { m, cpu, pt } = bootPae();
    m.memory.write64(pt, 0x5000 | URW, 1); // 4 GiB + 20 KiB, beyond 16 MiB of RAM
    expect(cpu.translate(0x40_0000, read)).toEqual({ pa: 0x1_0000_5000 });
    expect(() => cpu.load32(0x40_0000, false)).toThrow(MachineCheck);
    expect(() => cpu.store32(0x40_0004, 1, false)).toThrow(MachineCheck);
  });

  it("3.5 GiB of RAM: [0, 3 GiB) and [4 GiB, 4.5 GiB); frames above 4 GiB work end to end", () => {
    const m = i386Pae({ memoryMiB: 3584 }).boot(); // 3.5 GiB, allocated lazily; freed with the test's scope
    const mem = m.memory;
    expect(mem.ranges).toEqual([
      { base: 0, size: 3 * GiB },
      { base: HOLE_END, size: GiB / 2 },
    ]);
    expect(mem.topPa).toBe(HOLE_END + GiB / 2);
    expect(mem.frames).toBe((3.5 * GiB) / 4096);
    expect(mem.offsetOf(HOLE_END)).toBe(3 * GiB);
    expect(() => mem.read32(HOLE_START)).toThrow(MachineCheck);
    expect(() => mem.read32(HOLE_END - 4)).toThrow(MachineCheck);
    expect(() => mem.read32(HOLE_END + GiB / 2)).toThrow(MachineCheck);
    expect(() => mem.read32(HOLE_START - 2)).toThrow(MachineCheck); // straddles into the hole

    const cpu = m.cpus[0] as Cpu;
    const pdpt = 0x1000;
    const pd = 0x2000;
    const pt = 0x3000;
    mem.write64(pdpt, pd | PG_V, 0);
    mem.write64(pd + 8 * 2, pt | URW, 0);
    const high = HOLE_END + 0x5000;
    mem.write64(pt + 8 * 1, 0x5000 | URW, 1); // PTE with address bits 35:32 = 1
    const top = HOLE_END + GiB / 2 - 2 * 2 ** 20; // the last 2 MiB of RAM
    mem.write64(pd + 8 * 4, ((top % 2 ** 32) | URW | PG_PS) >>> 0, 1);
    cpu.setControl({ cr3: pdpt, pge: true });

    const va = 0x40_1000;
    expect(cpu.translate(va + 0x10, uread)).toEqual({ pa: high + 0x10 });
    expect(cpu.store32(va + 0x10, 0x1234_5678, true)).toBe(true);
    expect(mem.read32(high + 0x10)).toBe(0x1234_5678);
    expect(mem.read32(0x5010)).toBe(0); // not aliased to the low frame
    mem.write32(high + 0x20, 0xfeed_face);
    expect(cpu.load32(va + 0x20, true)).toBe(0xfeed_face);
    expect(cpu.load64(va + 0x10, true, new Uint32Array(2))).toBe(true);
    expect(mem.read64(pt + 8)).toEqual([0x5000 | URW | PG_A | PG_M, 1]);

    // A 2 MiB page at the very top of RAM.
    expect(cpu.store32(0x80_0000 + 2 * 2 ** 20 - 4, 0xabcd_ef01, false)).toBe(true);
    expect(mem.read32(HOLE_END + GiB / 2 - 4)).toBe(0xabcd_ef01);
    expect(cpu.tlbEntries().map((e) => [e.va, e.pa, e.size])).toEqual([
      [va, high, 4096],
      [0x80_0000, top, 2 * 2 ** 20],
    ]);
  });
});
