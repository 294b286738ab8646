/**
 * TLB behaviour of the i386 machines (32-bit paging and PAE) over real page tables in simulated
 * memory, per Intel SDM Vol. 3A 4.8 (A/D flags) and 4.10 (TLBs and invalidation); the project's
 * summary is mach_x86.md B.5-B.6.
 *
 * The TLB is not coherent with memory: a changed PTE is not seen until INVLPG, a CR3 write (for
 * non-global entries), a full flush, a page fault on the address, or eviction.
 */
import { IPL, splraise, splx } from "@vmlab/core";
import {
  type Cpu,
  type Machine,
  type MachineOptions,
  PFERR_P,
  PFERR_U,
  PFERR_W,
  PG_A,
  PG_G,
  PG_M,
  PG_PS,
  PG_RW,
  PG_U,
  PG_V,
} from "@vmlab/machine";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { i386, i386Pae } from "../src/index.js";

type Name = "i386" | "i386-pae";
const FORMATS: readonly Name[] = ["i386", "i386-pae"];

const URW = PG_V | PG_RW | PG_U;
const AD = PG_A | PG_M;

/** Builds page tables by direct physical writes (bootstrap style), for both i386 formats. */
class Tables {
  readonly pae: boolean;
  /** CR3: the page directory (i386) or the 32-byte PDPT (PAE). */
  readonly root = 0x1000;
  private nextTable = 0x1_0000;

  constructor(readonly m: Machine) {
    this.pae = m.format.entryBytes === 8;
    // PAE: all four page directories exist before the first CR3 load (PDPTEs are loaded then).
    if (this.pae) for (let i = 0; i < 4; i++) m.memory.write64(this.root + 8 * i, this.alloc() | PG_V, 0);
  }

  alloc(): number {
    const pa = this.nextTable;
    this.nextTable += 4096;
    this.m.memory.zeroRange(pa, 4096);
    return pa;
  }

  write(at: number, lo: number, hi = 0): void {
    if (this.pae) this.m.memory.write64(at, lo >>> 0, hi >>> 0);
    else {
      if (hi !== 0) throw new Error("32-bit entries have no high half");
      this.m.memory.write32(at, lo >>> 0);
    }
  }

  read(at: number): number {
    return this.m.memory.read32(at);
  }

  pdeAddr(va: number): number {
    if (!this.pae) return this.root + (va >>> 22) * 4;
    const pd = (this.m.memory.read32(this.root + 8 * (va >>> 30)) & 0xffff_f000) >>> 0;
    return pd + ((va >>> 21) & 511) * 8;
  }

  pteAddr(va: number): number {
    const pde = this.pdeAddr(va);
    let lo = this.m.memory.read32(pde);
    if ((lo & PG_V) === 0) {
      lo = this.alloc() | URW;
      this.write(pde, lo);
    }
    const pt = (lo & 0xffff_f000) >>> 0;
    return pt + (this.pae ? ((va >>> 12) & 511) * 8 : ((va >>> 12) & 1023) * 4);
  }

  map(va: number, pa: number, flags: number, hi = 0): number {
    const at = this.pteAddr(va);
    this.write(at, pa | flags, hi);
    return at;
  }

  mapLarge(va: number, pa: number, flags: number, hi = 0): number {
    const at = this.pdeAddr(va);
    this.write(at, pa | flags | PG_PS, hi);
    return at;
  }
}

function setup(name: Name, o: MachineOptions = {}) {
  const m = (name === "i386" ? i386 : i386Pae)({ memoryMiB: 16, ...o }).boot();
  const t = new Tables(m);
  for (const c of m.cpus) c.setControl({ cr3: t.root, pse: true });
  return { m, t, cpu: m.cpus[0] as Cpu };
}

/** Frame i (1 MiB + i pages), its first word holding a marker so a load shows which frame it hit. */
const frame = (i: number) => 0x10_0000 + i * 4096;
const marker = (i: number) => (0xf000_0000 + i) >>> 0;
function markFrames(m: Machine, n = 32) {
  for (let i = 0; i < n; i++) m.memory.write32(frame(i), marker(i));
}
/** 4 KiB mappings live at 4 MiB and up. */
const VA = 0x40_0000;
const page = (i: number) => VA + i * 4096;

const largeSize = (name: Name) => (name === "i386" ? 0x40_0000 : 0x20_0000);
/** The large page under test maps linear 8 MiB (4 MiB- and 2 MiB-aligned). */
const LVA = 0x80_0000;
const LF1 = 0x80_0000;
const LF2 = 0xc0_0000;

const misses = (m: Machine) => m.stats()["tlb.miss"] as number;

// ------------------------------------------------------------------------------------------------

describe.each(FORMATS)("%s: A and D flags", (name) => {
  it("a walk sets A in every entry it uses and D only in the leaf, only on a write", () => {
    const { m, t, cpu } = setup(name);
    const pte = t.map(page(0), frame(0), URW);
    const pde = t.pdeAddr(page(0));
    const pdpte = t.root;
    const pdpteBefore = m.memory.read64(pdpte);
    expect(t.read(pde) & AD).toBe(0);

    expect(cpu.translate(page(0) + 0x10, { access: "read", user: true })).toEqual({ pa: frame(0) + 0x10 });
    expect(t.read(pde) & AD).toBe(PG_A);
    expect(t.read(pte) & AD).toBe(PG_A);

    cpu.invlpg(page(0));
    expect(cpu.translate(page(0), { access: "write", user: true })).toEqual({ pa: frame(0) });
    expect(t.read(pde) & AD).toBe(PG_A); // never D in a non-leaf entry
    expect(t.read(pte) & AD).toBe(AD);
    expect(t.read(pte)).toBe((frame(0) | URW | AD) >>> 0); // nothing else changed
    // PAE: the PDPTEs are registers loaded at CR3 writes; the walk never writes them.
    if (t.pae) expect(m.memory.read64(pdpte)).toEqual(pdpteBefore);
  });

  it("sets A and D in a large-page PDE (the leaf)", () => {
    const { t, cpu } = setup(name);
    const pde = t.mapLarge(LVA, LF1, URW);
    expect(cpu.translate(LVA + 0x1234, { access: "read", user: false })).toEqual({ pa: LF1 + 0x1234 });
    expect(t.read(pde) & AD).toBe(PG_A);
    expect(cpu.store32(LVA + 0x1000, 5, false)).toBe(true);
    expect(t.read(pde) & AD).toBe(AD);
  });

  it("a fault leaves the leaf unchanged", () => {
    const { t, cpu } = setup(name);
    const ro = t.map(page(0), frame(0), PG_V | PG_U); // user read-only
    expect(cpu.translate(page(0), { access: "write", user: true })).toEqual({
      fault: { vector: 14, errorCode: PFERR_P | PFERR_W | PFERR_U, va: page(0) },
    });
    expect(t.read(ro)).toBe(frame(0) | PG_V | PG_U);
    const sup = t.map(page(1), frame(1), PG_V | PG_RW); // supervisor only
    expect(cpu.load32(page(1), true)).toBe(-1);
    expect(cpu.faultErrorCode).toBe(PFERR_P | PFERR_U);
    expect(t.read(sup)).toBe(frame(1) | PG_V | PG_RW);
    // U/S cleared in the PDE only: the PTE is still left alone.
    const pte = t.map(page(0x400), frame(2), URW); // another page table (i386) / PDE (PAE)
    const pde = t.pdeAddr(page(0x400));
    t.write(pde, t.read(pde) & ~PG_U);
    expect(cpu.load32(page(0x400), true)).toBe(-1);
    expect(t.read(pte)).toBe(frame(2) | URW);
  });

  it("a clean TLB entry (cached by a read) re-walks on the first write and sets D in memory", () => {
    const { m, t, cpu } = setup(name);
    const pte = t.map(page(0), frame(0), URW);
    expect(cpu.load32(page(0), false)).toBe(0);
    expect(t.read(pte) & AD).toBe(PG_A);
    expect(cpu.tlbEntries()).toMatchObject([{ va: page(0), dirty: false }]);
    const miss0 = misses(m);
    const levels0 = m.stats()["walk.levels"] as number;
    expect(cpu.store32(page(0), 0x1234, false)).toBe(true);
    expect(misses(m)).toBe(miss0 + 1);
    expect(m.stats()["walk.levels"]).toBe(levels0 + 2); // PAE: the PDPTE is a register, not walked
    expect(t.read(pte) & AD).toBe(AD);
    expect(cpu.tlbEntries()).toMatchObject([{ va: page(0), dirty: true }]);
    expect(m.memory.read32(frame(0))).toBe(0x1234);
    // Now dirty: further writes hit.
    expect(cpu.store32(page(0) + 4, 1, false)).toBe(true);
    expect(misses(m)).toBe(miss0 + 1);
  });

  it("D cleared in memory without INVLPG is not set again (the cached entry is already dirty)", () => {
    const { t, cpu } = setup(name);
    const pte = t.map(page(0), frame(0), URW);
    cpu.store32(page(0), 1, false);
    expect(t.read(pte) & AD).toBe(AD);
    t.write(pte, frame(0) | URW | PG_A); // clear_modify, forgetting the invalidation
    cpu.store32(page(0), 2, false);
    expect(t.read(pte) & PG_M).toBe(0);
    cpu.invlpg(page(0)); // with it, the next write re-walks
    cpu.store32(page(0), 3, false);
    expect(t.read(pte) & PG_M).toBe(PG_M);
  });
});

// ------------------------------------------------------------------------------------------------

describe.each(FORMATS)("%s: stale entries until INVLPG", (name) => {
  it("a changed frame is not seen until INVLPG", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    const pte = t.map(page(0), frame(1), URW);
    expect(cpu.load32(page(0), false)).toBe(marker(1));
    t.write(pte, frame(2) | URW);
    expect(cpu.load32(page(0), false)).toBe(marker(1));
    expect(cpu.translate(page(0), { access: "read", user: true })).toEqual({ pa: frame(1) });
    cpu.invlpg(page(0));
    expect(cpu.load32(page(0), false)).toBe(marker(2));
  });

  it("writes through a stale dirty entry go to the old frame; through a stale clean entry they re-walk", () => {
    const { m, t, cpu } = setup(name);
    const a = t.map(page(0), frame(1), URW);
    const b = t.map(page(1), frame(3), URW);
    expect(cpu.store32(page(0), 0x11, true)).toBe(true); // dirty entry
    expect(cpu.load32(page(1), true)).toBe(0); // clean entry
    t.write(a, frame(2) | URW);
    t.write(b, frame(4) | URW);
    expect(cpu.store32(page(0) + 8, 0xabc, true)).toBe(true);
    expect(m.memory.read32(frame(1) + 8)).toBe(0xabc); // the old frame
    expect(m.memory.read32(frame(2) + 8)).toBe(0);
    // The clean entry needs a walk to set D; the walk reads the new PTE (and refreshes the entry).
    expect(cpu.store32(page(1) + 8, 0xdef, true)).toBe(true);
    expect(m.memory.read32(frame(4) + 8)).toBe(0xdef);
    expect(m.memory.read32(frame(3) + 8)).toBe(0);
    expect(t.read(b) & AD).toBe(AD);
    expect(cpu.tlbEntries().map((e) => [e.va, e.pa])).toEqual([
      [page(0), frame(1)],
      [page(1), frame(4)],
    ]);
  });

  it("a page made read-only stays writable until INVLPG", () => {
    const { m, t, cpu } = setup(name);
    const pte = t.map(page(0), frame(0), URW);
    expect(cpu.store32(page(0), 1, true)).toBe(true); // cached writable and dirty
    t.write(pte, frame(0) | PG_V | PG_U | AD);
    expect(cpu.store32(page(0), 2, true)).toBe(true);
    expect(m.memory.read32(frame(0))).toBe(2);
    cpu.invlpg(page(0));
    expect(cpu.store32(page(0), 3, true)).toBe(false);
    expect([cpu.faultVector, cpu.faultErrorCode, cpu.cr2]).toEqual([14, PFERR_P | PFERR_W | PFERR_U, page(0)]);
    expect(m.memory.read32(frame(0))).toBe(2);
    expect(cpu.load32(page(0), true)).toBe(2); // reads still allowed
  });

  it("a page made non-present keeps being used until INVLPG, then faults with P=0", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    const pte = t.map(page(3), frame(3), URW);
    expect(cpu.load32(page(3) + 0x10, true)).toBe(0);
    t.write(pte, 0);
    expect(cpu.load32(page(3), true)).toBe(marker(3));
    expect(cpu.store32(page(3) + 4, 9, true)).toBe(false); // the read cached a clean entry: the write re-walks
    expect(cpu.faultErrorCode).toBe(PFERR_W | PFERR_U);
    // That fault invalidated the entry, so reads now fault too.
    expect(cpu.load32(page(3), true)).toBe(-1);
    expect([cpu.faultVector, cpu.faultErrorCode, cpu.cr2]).toEqual([14, PFERR_U, page(3)]);

    const pte4 = t.map(page(4), frame(4), URW);
    expect(cpu.load32(page(4), false)).toBe(marker(4));
    t.write(pte4, 0);
    expect(cpu.load32(page(4), false)).toBe(marker(4));
    cpu.invlpg(page(4) + 0xffc); // any address in the page
    expect(cpu.load32(page(4), false)).toBe(-1);
    expect(cpu.faultErrorCode).toBe(0);
  });

  it("INVLPG drops only the page it names", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    const a = t.map(page(0), frame(0), URW);
    const b = t.map(page(1), frame(1), URW);
    cpu.load32(page(0), false);
    cpu.load32(page(1), false);
    t.write(a, frame(5) | URW);
    t.write(b, frame(6) | URW);
    cpu.invlpg(page(1));
    expect(cpu.load32(page(0), false)).toBe(marker(0));
    expect(cpu.load32(page(1), false)).toBe(marker(6));
  });
});

describe.each(FORMATS)("%s: CR3 writes and global pages", (name) => {
  it("a CR3 write flushes non-global entries; a global entry survives it; flushTlb removes it", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    cpu.setControl({ pge: true });
    const a = t.map(page(0), frame(0), URW);
    const g = t.map(page(1), frame(1), URW | PG_G);
    expect(cpu.load32(page(0), false)).toBe(marker(0));
    expect(cpu.load32(page(1), false)).toBe(marker(1));
    expect(cpu.tlbEntries().map((e) => [e.va, e.global])).toEqual([
      [page(0), false],
      [page(1), true],
    ]);
    t.write(a, frame(7) | URW);
    t.write(g, frame(7) | URW | PG_G);
    cpu.setControl({ cr3: t.root });
    expect(cpu.tlbEntries().map((e) => e.va)).toEqual([page(1)]);
    expect(cpu.load32(page(0), false)).toBe(marker(7));
    expect(cpu.load32(page(1), false)).toBe(marker(1)); // stale global
    cpu.flushTlb();
    expect(cpu.tlbEntries()).toEqual([]);
    expect(cpu.load32(page(1), false)).toBe(marker(7));
  });

  it("INVLPG removes a global entry", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    cpu.setControl({ pge: true });
    const g = t.map(page(1), frame(1), URW | PG_G);
    cpu.load32(page(1), true);
    t.write(g, frame(2) | URW | PG_G);
    cpu.invlpg(page(1));
    expect(cpu.load32(page(1), true)).toBe(marker(2));
  });

  it("the G bit is ignored without CR4.PGE, and changing PGE flushes global entries", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    const g = t.map(page(1), frame(1), URW | PG_G);
    cpu.load32(page(1), false);
    expect(cpu.tlbEntries()).toMatchObject([{ va: page(1), global: false }]);
    t.write(g, frame(2) | URW | PG_G);
    cpu.setControl({ cr3: t.root });
    expect(cpu.load32(page(1), false)).toBe(marker(2));

    cpu.setControl({ pge: true });
    cpu.invlpg(page(1));
    cpu.load32(page(1), false);
    expect(cpu.tlbEntries()).toMatchObject([{ va: page(1), global: true }]);
    t.write(g, frame(3) | URW | PG_G);
    cpu.setControl({ pge: false }); // MOV to CR4 changing PGE: everything goes
    expect(cpu.tlbEntries()).toEqual([]);
    expect(cpu.load32(page(1), false)).toBe(marker(3));
  });
});

describe.each(FORMATS)("%s: large pages", (name) => {
  const size = largeSize(name);

  it("are cached as one entry and INVLPG of any address in the page drops it", () => {
    const { m, t, cpu } = setup(name);
    for (const off of [0, 0x1000, size - 4096]) {
      m.memory.write32(LF1 + off, 0x1000_0000 + off);
      m.memory.write32(LF2 + off, 0x2000_0000 + off);
    }
    const pde = t.mapLarge(LVA, LF1, URW);
    expect(cpu.load32(LVA, true)).toBe(0x1000_0000);
    expect(cpu.tlbEntries()).toEqual([
      { va: LVA, pa: LF1, size, writable: true, user: true, noExec: false, dirty: false, global: false },
    ]);
    const miss0 = misses(m);
    expect(cpu.load32(LVA + 0x1000, true)).toBe(0x1000_1000);
    expect(cpu.load32(LVA + size - 4096, true)).toBe(0x1000_0000 + size - 4096);
    expect(misses(m)).toBe(miss0); // one entry covers the whole page

    t.write(pde, LF2 | URW | PG_PS | PG_A);
    expect(cpu.load32(LVA + 0x1000, true)).toBe(0x1000_1000); // stale
    cpu.invlpg(LVA + size - 4096 + 0x123);
    expect(cpu.tlbEntries()).toEqual([]);
    expect(cpu.load32(LVA + 0x1000, true)).toBe(0x2000_1000);
    expect(cpu.translate(LVA + size - 1, { access: "read", user: false })).toEqual({ pa: LF2 + size - 1 });
  });

  it("a global large page survives a CR3 write", () => {
    const { m, t, cpu } = setup(name);
    m.memory.write32(LF1, 1);
    m.memory.write32(LF2, 2);
    cpu.setControl({ pge: true });
    const pde = t.mapLarge(LVA, LF1, URW | PG_G);
    expect(cpu.load32(LVA, false)).toBe(1);
    t.write(pde, LF2 | URW | PG_PS | PG_G);
    cpu.setControl({ cr3: t.root });
    expect(cpu.load32(LVA, false)).toBe(1);
    expect(cpu.tlbEntries()).toMatchObject([{ va: LVA, size, global: true }]);
    cpu.flushTlb();
    expect(cpu.load32(LVA, false)).toBe(2);
  });
});

describe.each(FORMATS)("%s: rights on TLB hits", (name) => {
  it("a PTE upgraded to writable without INVLPG gives one spurious #PF (P=1), which invalidates the entry", () => {
    const { m, t, cpu } = setup(name);
    const pte = t.map(page(0), frame(0), PG_V | PG_U);
    expect(cpu.load32(page(0), true)).toBe(0);
    t.write(pte, frame(0) | URW | PG_A); // upgrade, no invalidation
    const pf0 = m.stats()["cpu.pagefault"] as number;
    expect(cpu.store32(page(0), 7, true)).toBe(false);
    expect([cpu.faultVector, cpu.faultErrorCode, cpu.cr2]).toEqual([14, PFERR_P | PFERR_W | PFERR_U, page(0)]);
    expect(m.stats()["cpu.pagefault"]).toBe(pf0 + 1);
    expect(cpu.tlbEntries()).toEqual([]);
    expect(cpu.store32(page(0), 7, true)).toBe(true);
    expect(m.memory.read32(frame(0))).toBe(7);
    expect(t.read(pte) & AD).toBe(AD);
    expect(m.stats()["cpu.pagefault"]).toBe(pf0 + 1);
  });

  it("a page upgraded to user without INVLPG: one spurious fault for the user read", () => {
    const { t, cpu } = setup(name);
    const pte = t.map(page(0), frame(0), PG_V | PG_RW);
    expect(cpu.load32(page(0), false)).toBe(0);
    t.write(pte, frame(0) | URW | PG_A);
    expect(cpu.load32(page(0), true)).toBe(-1);
    expect(cpu.faultErrorCode).toBe(PFERR_P | PFERR_U);
    expect(cpu.load32(page(0), true)).toBe(0);
  });

  it("rights are the AND of R/W and U/S over the levels", () => {
    const { t, cpu } = setup(name);
    t.map(page(0), frame(0), URW);
    const pde = t.pdeAddr(page(0));
    t.write(pde, t.read(pde) & ~PG_RW); // PDE read-only, PTE writable
    expect(cpu.load32(page(0), true)).toBe(0);
    expect(cpu.tlbEntries()).toMatchObject([{ va: page(0), writable: false, user: true }]);
    expect(cpu.store32(page(0), 1, true)).toBe(false);
    expect(cpu.faultErrorCode).toBe(PFERR_P | PFERR_W | PFERR_U);
    expect(cpu.store32(page(0), 1, false)).toBe(true); // supervisor, CR0.WP=0
  });
});

describe.each(FORMATS)("%s: TLB structure", (name) => {
  it("set-associative eviction: filling more pages than ways in one set re-walks the oldest", () => {
    const { m, t, cpu } = setup(name, { tlb: { smallSets: 4, smallWays: 2 } });
    markFrames(m);
    // Pages 0, 4, 8 fall in set 0 (VA 4 MiB is page number 0x400); page 1 in set 1.
    for (const i of [0, 1, 4, 8]) t.map(page(i), frame(i), URW);
    const m0 = misses(m);
    cpu.load32(page(1), false);
    cpu.load32(page(0), false);
    cpu.load32(page(4), false);
    expect(misses(m)).toBe(m0 + 3);
    cpu.load32(page(0), false);
    cpu.load32(page(4), false);
    expect(misses(m)).toBe(m0 + 3);
    cpu.load32(page(8), false); // evicts page 0
    expect(misses(m)).toBe(m0 + 4);
    expect(cpu.tlbEntries().map((e) => e.va)).toEqual([page(1), page(4), page(8)]);
    cpu.load32(page(4), false);
    cpu.load32(page(1), false);
    expect(misses(m)).toBe(m0 + 4);
    expect(cpu.load32(page(0), false)).toBe(marker(0)); // re-walked; evicts page 4
    expect(misses(m)).toBe(m0 + 5);
    expect(cpu.tlbEntries().map((e) => e.va)).toEqual([page(0), page(1), page(8)]);
  });

  it("an evicted entry cannot be stale: the re-walk sees the current PTE", () => {
    const { m, t, cpu } = setup(name, { tlb: { smallSets: 1, smallWays: 2 } });
    markFrames(m);
    const a = t.map(page(0), frame(0), URW);
    t.map(page(1), frame(1), URW);
    t.map(page(2), frame(2), URW);
    expect(cpu.load32(page(0), false)).toBe(marker(0));
    t.write(a, frame(9) | URW); // no INVLPG
    cpu.load32(page(1), false);
    cpu.load32(page(2), false); // evicts page 0
    expect(cpu.load32(page(0), false)).toBe(marker(9));
  });

  it("tlbEntries() shows va, pa, size and flags of each entry", () => {
    const { t, cpu } = setup(name);
    cpu.setControl({ pge: true });
    t.map(page(2), frame(2), URW);
    t.map(page(5), frame(5), PG_V | PG_G);
    t.mapLarge(LVA, LF1, PG_V | PG_RW | PG_G);
    cpu.load32(page(2) + 0x40, true);
    cpu.store32(page(5) + 0x80, 1, false);
    cpu.store32(LVA + 0x5000, 1, false);
    expect(cpu.tlbEntries()).toEqual([
      { va: page(2), pa: frame(2), size: 4096, writable: true, user: true, noExec: false, dirty: false, global: false },
      { va: page(5), pa: frame(5), size: 4096, writable: false, user: false, noExec: false, dirty: true, global: true },
      {
        va: LVA,
        pa: LF1,
        size: largeSize(name),
        writable: true,
        user: false,
        noExec: false,
        dirty: true,
        global: true,
      },
    ]);
  });

  it("micro-TLB coherence: after load32/store32 hits, INVLPG then a PTE change is seen at once", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    const pte = t.map(page(0), frame(0), URW);
    for (const user of [false, true]) {
      t.write(pte, frame(0) | URW);
      cpu.invlpg(page(0));
      expect(cpu.load32(page(0), user)).toBe(marker(0));
      const h0 = m.stats()["tlb.hit"] as number;
      expect(cpu.load32(page(0), user)).toBe(marker(0)); // the one-page fast path
      expect(m.stats()["tlb.hit"]).toBe(h0 + 1);
      cpu.invlpg(page(0));
      t.write(pte, frame(1) | URW);
      expect(cpu.load32(page(0), user)).toBe(marker(1));
    }
    // Stores: two hits through the write fast path, then invalidate and remap.
    t.write(pte, frame(2) | URW);
    cpu.invlpg(page(0));
    cpu.store32(page(0) + 4, 1, false);
    cpu.store32(page(0) + 4, 2, false);
    cpu.invlpg(page(0));
    t.write(pte, frame(3) | URW);
    cpu.store32(page(0) + 4, 3, false);
    expect(m.memory.read32(frame(2) + 4)).toBe(2);
    expect(m.memory.read32(frame(3) + 4)).toBe(3);
    // A CR3 write empties the fast path too.
    cpu.load32(page(0), false);
    t.write(pte, frame(4) | URW);
    cpu.setControl({ cr3: t.root });
    expect(cpu.load32(page(0), false)).toBe(marker(4));
  });

  it("an interrupt handler that remaps and invalidates is seen by the interrupted code's next access", () => {
    const { m, t, cpu } = setup(name);
    markFrames(m);
    const pte = t.map(page(0), frame(0), URW);
    expect(cpu.load32(page(0), false)).toBe(marker(0));
    cpu.post({
      name: "remap",
      level: IPL.VM,
      handler: (c) => {
        t.write(pte, frame(1) | URW);
        c.invlpg(page(0));
      },
    });
    // The handler runs at the start of this access, before its translation.
    expect(cpu.load32(page(0), false)).toBe(marker(1));
    const s = splraise(cpu, IPL.HIGH);
    cpu.post({
      name: "remap2",
      level: IPL.VM,
      handler: (c) => {
        t.write(pte, frame(2) | URW);
        c.invlpg(page(0));
      },
    });
    expect(cpu.load32(page(0), false)).toBe(marker(1)); // masked
    splx(cpu, s);
    expect(cpu.load32(page(0), false)).toBe(marker(2));
  });
});

describe.each(FORMATS)("%s: TLB shootdown by IPI", (name) => {
  it("both CPUs see the new mapping after INVLPG here and an IPI there; without the IPI the other CPU stays stale", () => {
    const { m, t } = setup(name, { cpus: 2 });
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    markFrames(m);
    const pte = t.map(page(0), frame(0), URW);
    expect(c0.load32(page(0), true)).toBe(marker(0));
    expect(c1.load32(page(0), true)).toBe(marker(0));

    t.write(pte, frame(1) | URW);
    c0.invlpg(page(0));
    let during: Cpu | undefined;
    m.ipi(c0, c1, (c) => {
      during = m.curcpu;
      c.invlpg(page(0));
    });
    expect(during).toBe(c1);
    expect(m.curcpu).toBe(c0);
    expect(c0.load32(page(0), true)).toBe(marker(1));
    expect(c1.load32(page(0), true)).toBe(marker(1));
    expect(m.stats()["ipi.sent"]).toBe(1);

    // Forgetting the shootdown: CPU 1 keeps using its stale entry.
    expect(c1.store32(page(0) + 4, 0x44, true)).toBe(true); // CPU 1 now holds a dirty entry for frame 1
    t.write(pte, frame(2) | URW);
    c0.invlpg(page(0));
    expect(c0.load32(page(0), true)).toBe(marker(2));
    expect(c1.load32(page(0), true)).toBe(marker(1));
    expect(c1.store32(page(0) + 4, 0x55, true)).toBe(true);
    expect(m.memory.read32(frame(1) + 4)).toBe(0x55); // a write into the page the pmap gave away
    expect(m.stats()["ipi.sent"]).toBe(1);
  });
});

// ------------------------------------------------------------------------------------------------

type Op =
  | { k: "store"; cpu: number; p: number; off: number; v: number }
  | { k: "load"; cpu: number; p: number; off: number }
  | { k: "remap"; cpu: number; p: number; f: number }
  | { k: "invlpg"; cpu: number; p: number }
  | { k: "cr3"; cpu: number };

describe.each(FORMATS)("%s: property", (name) => {
  it("loads and stores on 2 CPUs agree with a memory model across remaps with INVLPG + shootdown", () => {
    const PAGES = 6;
    const FRAMES = 10;
    const cpuIx = fc.nat(1);
    const pg = fc.nat(PAGES - 1);
    const off = fc.nat(1023).map((w) => w * 4);
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ k: fc.constant("store" as const), cpu: cpuIx, p: pg, off, v: fc.nat() }) },
      { weight: 4, arbitrary: fc.record({ k: fc.constant("load" as const), cpu: cpuIx, p: pg, off }) },
      {
        weight: 2,
        arbitrary: fc.record({ k: fc.constant("remap" as const), cpu: cpuIx, p: pg, f: fc.nat(FRAMES - 1) }),
      },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("invlpg" as const), cpu: cpuIx, p: pg }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("cr3" as const), cpu: cpuIx }) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), (ops) => {
        // A tiny TLB (2 sets x 2 ways), so evictions happen too.
        const { m, t } = setup(name, { cpus: 2, tlb: { smallSets: 2, smallWays: 2 } });
        const cpus = m.cpus as [Cpu, Cpu];
        const map: number[] = [];
        const pte: number[] = [];
        for (let p = 0; p < PAGES; p++) {
          map.push(p % FRAMES);
          pte.push(t.map(page(p * 3), frame(p % FRAMES), URW));
        }
        const phys = new Map<number, number>();
        for (const o of ops) {
          const c = cpus[o.cpu] as Cpu;
          const va = (p: number) => page(p * 3);
          if (o.k === "store") {
            expect(c.store32(va(o.p) + o.off, o.v, o.cpu === 1)).toBe(true);
            phys.set(frame(map[o.p] as number) + o.off, o.v);
          } else if (o.k === "load") {
            const want = phys.get(frame(map[o.p] as number) + o.off) ?? 0;
            expect(c.load32(va(o.p) + o.off, o.cpu === 1)).toBe(want);
          } else if (o.k === "remap") {
            map[o.p] = o.f;
            t.write(pte[o.p] as number, frame(o.f) | URW);
            c.invlpg(va(o.p));
            m.ipi(c, cpus[1 - o.cpu] as Cpu, (other) => other.invlpg(va(o.p)));
          } else if (o.k === "invlpg") {
            c.invlpg(va(o.p));
          } else {
            c.setControl({ cr3: t.root });
          }
        }
        for (const [pa, v] of phys) expect(m.memory.read32(pa)).toBe(v);
      }),
      { numRuns: 60 },
    );
  });
});
