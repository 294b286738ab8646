/**
 * The amd64 machine: 4-level paging (Intel SDM Vol. 3A 4.5) with 2 MiB and 1 GiB pages, NX,
 * MAXPHYADDR 40, canonical 48-bit addresses (the upper half as its unsigned 48-bit value), the
 * TLB rules of 4.10 at addresses above 2^32, and RAM above 4 GiB.
 */
import { ConfigError, SIZE_1G } from "@vmlab/core";
import {
  type Cpu,
  DEFAULT_COSTS,
  DEFAULT_TLB,
  HOLE_END,
  LARGE_ALWAYS,
  LARGE_NEVER,
  type Machine,
  MachineCheck,
  type MachineOptions,
  MachineSpec,
  PFERR_ID,
  PFERR_P,
  PFERR_RSVD,
  PFERR_U,
  PFERR_W,
  PG_A,
  PG_G,
  PG_M,
  PG_NX_HI,
  PG_PS,
  PG_RW,
  PG_U,
  PG_V,
  VEC_GP,
  VEC_PF,
} from "@vmlab/machine";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AMD64_FORMAT, amd64, buildDirectMap, physToDmap } from "../src/index.js";

const KiB4 = 4096;
const MiB2 = 2 ** 21;
const GiB = 2 ** 30;
const URW = PG_V | PG_RW | PG_U;
const AD = PG_A | PG_M;
/** The lowest upper-half canonical address, 0xffff800000000000, as its 48-bit value. */
const UPPER = 0x8000_0000_0000;

const pf = (errorCode: number, va: number) => ({ fault: { vector: VEC_PF, errorCode, va } });
const read = { access: "read", user: false } as const;
const uread = { access: "read", user: true } as const;
const write = { access: "write", user: false } as const;
const exec = { access: "exec", user: false } as const;

/** 4-level tables built by direct physical writes. */
class Tables {
  readonly root = 0x1000;
  private next = 0x1_0000;

  constructor(readonly m: Machine) {
    m.memory.zeroRange(this.root, 4096);
  }

  private alloc(): number {
    const pa = this.next;
    this.next += 4096;
    this.m.memory.zeroRange(pa, 4096);
    return pa;
  }

  /** Address of the entry for va at the level whose pages are `size` bytes, creating tables above. */
  entryAddr(va: number, size: number): number {
    let table = this.root;
    for (const shift of [39, 30, 21, 12]) {
      const at = table + (Math.floor(va / 2 ** shift) % 512) * 8;
      if (2 ** shift === size) return at;
      const [lo, hi] = this.m.memory.read64(at);
      if ((lo & PG_V) === 0) {
        table = this.alloc();
        this.m.memory.write64(at, table | URW, 0);
      } else {
        table = (hi & 0xff) * 2 ** 32 + ((lo & 0xffff_f000) >>> 0);
      }
    }
    throw new Error(`no level maps ${size}-byte pages`);
  }

  write(at: number, lo: number, hi = 0): void {
    this.m.memory.write64(at, lo >>> 0, hi >>> 0);
  }

  lo(at: number): number {
    return this.m.memory.read32(at);
  }

  /** Map va → pa with a page of `size`; returns the leaf entry's address. */
  map(va: number, pa: number, flags: number, size = KiB4, hiExtra = 0): number {
    const at = this.entryAddr(va, size);
    const lo = (pa % 2 ** 32) | flags | (size === KiB4 ? 0 : PG_PS);
    this.write(at, lo, Math.floor(pa / 2 ** 32) | hiExtra);
    return at;
  }
}

function setup(o: MachineOptions = {}) {
  const m = amd64({ memoryMiB: 16, ...o }).boot();
  const t = new Tables(m);
  for (const c of m.cpus) c.setControl({ cr3: t.root, nxe: true });
  return { m, t, cpu: m.cpus[0] as Cpu };
}

const frame = (i: number) => 0x10_0000 + i * 4096;
const marker = (i: number) => (0xa000_0000 + i) >>> 0;
function markFrames(m: Machine, n = 16) {
  for (let i = 0; i < n; i++) m.memory.write32(frame(i), marker(i));
}
const misses = (m: Machine) => m.stats()["tlb.miss"] as number;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

// ------------------------------------------------------------------------------------------------

describe("factory", () => {
  it("amd64() returns a spec for 4-level paging with the default options", () => {
    const s = amd64();
    expect(s).toBeInstanceOf(MachineSpec);
    expect(s.name).toBe("amd64");
    expect(s.format).toBe(AMD64_FORMAT);
    expect(s.options).toEqual({ memoryMiB: 64, cpus: 1, tlb: { ...DEFAULT_TLB }, costs: { ...DEFAULT_COSTS } });
    expect(AMD64_FORMAT).toMatchObject({
      entryBytes: 8,
      vaBits: 48,
      maxPhysBits: 40,
      hasNx: true,
      pdpteRegisters: false,
    });
    expect(AMD64_FORMAT.levels.map((l) => [l.name, l.shift, l.indexBits, l.large])).toEqual([
      ["PML4E", 39, 9, LARGE_NEVER],
      ["PDPTE", 30, 9, LARGE_ALWAYS],
      ["PDE", 21, 9, LARGE_ALWAYS],
      ["PTE", 12, 9, LARGE_NEVER],
    ]);
  });

  it.each([0, 4097, 1.25])("refuses memoryMiB %s", (v) => {
    const e = configError(() => amd64({ memoryMiB: v }));
    expect(e.field).toBe("memoryMiB");
    expect(e.accepted).toBe(
      "an integer from 1 to 4096 on amd64 (the simulator backs RAM with one typed array of at most 4 GiB)",
    );
  });

  it("refuses cpus 0 and 33 and bad TLB geometry; accepts 4096 MiB", () => {
    expect(configError(() => amd64({ cpus: 0 })).field).toBe("cpus");
    expect(configError(() => amd64({ cpus: 33 })).field).toBe("cpus");
    expect(configError(() => amd64({ tlb: { smallSets: 6 } })).field).toBe("tlb.smallSets");
    expect(amd64({ memoryMiB: 4096 }).options.memoryMiB).toBe(4096);
  });
});

describe("4-level walk", () => {
  it("sets A in all four levels and D only in the PTE, only on a write", () => {
    const { m, t, cpu } = setup();
    const va = 0x12_3456_7000;
    const pte = t.map(va, frame(0), URW);
    const upper = [t.entryAddr(va, 2 ** 39), t.entryAddr(va, GiB), t.entryAddr(va, MiB2)];
    expect(cpu.translate(va + 0x9c, read)).toEqual({ pa: frame(0) + 0x9c });
    expect(upper.map((a) => t.lo(a) & AD)).toEqual([PG_A, PG_A, PG_A]);
    expect(t.lo(pte) & AD).toBe(PG_A);
    const l0 = m.stats()["walk.levels"] as number;
    expect(cpu.translate(va, write)).toEqual({ pa: frame(0) });
    expect(m.stats()["walk.levels"]).toBe(l0 + 4);
    expect(upper.map((a) => t.lo(a) & AD)).toEqual([PG_A, PG_A, PG_A]);
    expect(t.lo(pte) & AD).toBe(AD);
  });

  it("a fault leaves the leaf unchanged, and entries below a large page are not touched", () => {
    const { m, t, cpu } = setup();
    const va = 0x40_0000;
    const pte = t.map(va, frame(0), PG_V | PG_U);
    expect(cpu.translate(va, { access: "write", user: true })).toEqual(pf(PFERR_P | PFERR_W | PFERR_U, va));
    expect(t.lo(pte)).toBe(frame(0) | PG_V | PG_U);
    // Turn the PDE above into a 2 MiB page: the old PTE (now unreachable) stays as it was.
    const pde = t.entryAddr(va, MiB2);
    t.write(pde, 0x20_0000 | URW | PG_PS);
    cpu.flushTlb();
    expect(cpu.translate(va, write)).toEqual({ pa: 0x20_0000 });
    expect(t.lo(pde) & AD).toBe(AD);
    expect(t.lo(pte)).toBe(frame(0) | PG_V | PG_U);
    expect(m.memory.read32(pte + 4)).toBe(0);
  });

  it("maps 2 MiB and 1 GiB pages; bit 12 of a large entry is PAT, not address", () => {
    const { t, cpu } = setup();
    t.map(0x4000_0000 * 3, GiB, URW, GiB); // linear 3 GiB → physical 1 GiB
    t.map(0x60_0000, 0x80_0000 | 0x1000, URW, MiB2);
    expect(cpu.translate(3 * GiB + 0x2345_6789, read)).toEqual({ pa: GiB + 0x2345_6789 });
    expect(cpu.translate(0x60_0000 + 0x1f_fffc, read)).toEqual({ pa: 0x80_0000 + 0x1f_fffc });
    expect(cpu.tlbEntries().map((e) => [e.va, e.pa, e.size])).toEqual([
      [0x60_0000, 0x80_0000, MiB2],
      [3 * GiB, GiB, GiB],
    ]);
  });

  it("reserved bits: PS in a PML4E, 29:13 in a 1 GiB PDPTE, 20:13 in a 2 MiB PDE, 51:40 anywhere; 62:52 ignored", () => {
    const { m, t, cpu } = setup();
    const rsv = (va: number) => pf(PFERR_P | PFERR_RSVD, va);
    // PML4E with PS.
    const va1 = 0x100_0000_0000; // PML4 slot 2
    t.map(va1, frame(1), URW);
    const pml4e = t.entryAddr(va1, 2 ** 39);
    t.write(pml4e, t.lo(pml4e) | PG_PS);
    expect(cpu.translate(va1, read)).toEqual(rsv(va1));
    // 1 GiB page with bit 13 / bit 29.
    for (const bit of [13, 29]) {
      const at = t.map(5 * GiB, 0, URW | (1 << bit), GiB);
      cpu.invlpg(5 * GiB);
      expect(cpu.translate(5 * GiB, read)).toEqual(rsv(5 * GiB));
      t.write(at, 0);
    }
    // 2 MiB page with bit 20.
    t.map(0xa0_0000, 0, URW | (1 << 20), MiB2);
    expect(cpu.translate(0xa0_0000, read)).toEqual(rsv(0xa0_0000));
    // Bits 51:40 (high-half bits 19:8) in a PTE and in a table entry.
    const va2 = 0x40_0000;
    const pte = t.map(va2, frame(2), URW, KiB4, 1 << 8); // bit 40
    expect(cpu.translate(va2, read)).toEqual(rsv(va2));
    t.write(pte, frame(2) | URW, 1 << 19); // bit 51
    expect(cpu.translate(va2, read)).toEqual(rsv(va2));
    t.write(pte, frame(2) | URW, 0x7ff0_0000); // bits 62:52: ignored
    expect(cpu.translate(va2, read)).toEqual({ pa: frame(2) });
    expect(m.memory.read32(pte + 4)).toBe(0x7ff0_0000);
    t.write(pte, frame(2) | URW, 0xff); // bits 39:32 are address
    cpu.invlpg(va2);
    expect(cpu.translate(va2, read)).toEqual({ pa: 0xff * 2 ** 32 + frame(2) });
    const pde = t.entryAddr(va2, MiB2);
    t.write(pde, t.lo(pde), 1 << 12); // bit 44 in a PDE that points to a table
    cpu.invlpg(va2);
    expect(cpu.translate(va2, read)).toEqual(rsv(va2));
  });

  it("NX: XD in any level faults fetches with I/D set; without NXE bit 63 is reserved", () => {
    const { t, cpu } = setup();
    const va = UPPER + 0x7000;
    t.map(va, frame(0), URW);
    const pml4e = t.entryAddr(va, 2 ** 39);
    expect(cpu.translate(va, exec)).toEqual({ pa: frame(0) });
    t.write(pml4e, t.lo(pml4e), PG_NX_HI);
    cpu.invlpg(va);
    expect(cpu.translate(va, exec)).toEqual(pf(PFERR_P | PFERR_ID, va));
    expect(cpu.translate(va, { access: "exec", user: true })).toEqual(pf(PFERR_P | PFERR_U | PFERR_ID, va));
    expect(cpu.translate(va, read)).toEqual({ pa: frame(0) });
    expect(cpu.tlbEntries()).toMatchObject([{ va, noExec: true }]);
    cpu.setControl({ nxe: false });
    expect(cpu.translate(va, read)).toEqual(pf(PFERR_P | PFERR_RSVD, va));
    expect(cpu.translate(va, exec)).toEqual(pf(PFERR_P | PFERR_RSVD, va)); // no I/D without NXE (or SMEP)
  });
});

describe("canonical addresses", () => {
  it("an address at or above 2^48 raises #GP(0) without a walk", () => {
    const { m, cpu } = setup();
    const s0 = m.stats();
    for (const va of [2 ** 48, 2 ** 48 + 0x1000, 2 ** 52, -4096]) {
      expect(cpu.translate(va, read)).toEqual({ fault: { vector: VEC_GP, errorCode: 0, va } });
    }
    expect(cpu.load32(2 ** 48, false)).toBe(-1);
    expect([cpu.faultVector, cpu.faultErrorCode]).toEqual([VEC_GP, 0]);
    expect(cpu.store32(2 ** 48 + 8, 1, true)).toBe(false);
    expect(cpu.faultVector).toBe(VEC_GP);
    const s1 = m.stats();
    expect(s1["walk.levels"]).toBe(s0["walk.levels"]);
    expect(s1["cpu.pagefault"]).toBe(s0["cpu.pagefault"]);
    expect(() => cpu.translate(Number.NaN, read)).toThrow(RangeError);
  });

  it("upper-half addresses (PML4 slots 256-511) walk like any other", () => {
    const { m, t, cpu } = setup();
    markFrames(m);
    const a = UPPER + 0x1234_5000; // 0xffff800012345000
    const top = 2 ** 48 - KiB4; // 0xfffffffffffff000
    t.map(a, frame(1), URW);
    t.map(top, frame(2), PG_V | PG_RW);
    expect(t.entryAddr(a, 2 ** 39)).toBe(t.root + 256 * 8);
    expect(t.entryAddr(top, 2 ** 39)).toBe(t.root + 511 * 8);
    expect(cpu.load32(a, true)).toBe(marker(1));
    expect(cpu.load32(top, false)).toBe(marker(2));
    expect(cpu.store32(top + 0xffc, 0x77, false)).toBe(true);
    expect(m.memory.read32(frame(2) + 0xffc)).toBe(0x77);
    expect(cpu.load32(top, true)).toBe(-1);
    expect([cpu.faultVector, cpu.faultErrorCode, cpu.cr2]).toEqual([VEC_PF, PFERR_P | PFERR_U, top]);
    expect(cpu.translate(UPPER - KiB4, read)).toEqual(pf(0, UPPER - KiB4)); // lower half's last page: unmapped
  });

  it("any 48-bit address maps through its own entries (property)", () => {
    const va48 = fc.nat({ max: 2 ** 36 - 1 }).map((vpn) => vpn * KiB4);
    fc.assert(
      fc.property(fc.uniqueArray(va48, { minLength: 1, maxLength: 12 }), fc.nat(4095), (vas, off) => {
        const { t, cpu } = setup({ memoryMiB: 4 });
        for (const [i, va] of vas.entries()) t.map(va, frame(i), URW);
        for (const [i, va] of vas.entries()) expect(cpu.translate(va + off, uread)).toEqual({ pa: frame(i) + off });
        // A neighbouring page that no one mapped faults (unless it was mapped too).
        for (const va of vas) {
          const n = (va + KiB4) % 2 ** 48;
          if (!vas.includes(n)) expect(cpu.translate(n, read)).toEqual(pf(0, n));
        }
        expect(cpu.tlbEntries().length).toBeGreaterThan(0);
      }),
      { numRuns: 80 },
    );
  });
});

// ------------------------------------------------------------------------------------------------

describe("TLB at 48-bit addresses", () => {
  const va = UPPER + 0x40_0000; // page number above 2^32

  it("a stale entry is used until INVLPG: frame change, read-only, non-present", () => {
    const { m, t, cpu } = setup();
    markFrames(m);
    const pte = t.map(va, frame(0), URW);
    expect(cpu.store32(va + 4, 1, false)).toBe(true); // dirty entry
    t.write(pte, frame(1) | URW);
    expect(cpu.load32(va, false)).toBe(marker(0));
    cpu.invlpg(va);
    expect(cpu.load32(va, false)).toBe(marker(1));

    expect(cpu.store32(va + 4, 2, true)).toBe(true);
    t.write(pte, frame(1) | PG_V | PG_U | AD);
    expect(cpu.store32(va + 4, 3, true)).toBe(true);
    cpu.invlpg(va + 0x800);
    expect(cpu.store32(va + 4, 4, true)).toBe(false);
    expect(cpu.faultErrorCode).toBe(PFERR_P | PFERR_W | PFERR_U);
    expect(m.memory.read32(frame(1) + 4)).toBe(3);

    expect(cpu.load32(va, true)).toBe(marker(1));
    t.write(pte, 0);
    expect(cpu.load32(va, true)).toBe(marker(1));
    cpu.invlpg(va);
    expect(cpu.load32(va, true)).toBe(-1);
    expect(cpu.faultErrorCode).toBe(PFERR_U);
  });

  it("CR3 write keeps global entries (PGE), flushTlb and INVLPG remove them", () => {
    const { m, t, cpu } = setup();
    markFrames(m);
    cpu.setControl({ pge: true });
    const a = t.map(va, frame(0), URW);
    const g = t.map(va + KiB4, frame(1), URW | PG_G);
    cpu.load32(va, false);
    cpu.load32(va + KiB4, false);
    t.write(a, frame(2) | URW);
    t.write(g, frame(3) | URW | PG_G);
    cpu.setControl({ cr3: t.root });
    expect(cpu.load32(va, false)).toBe(marker(2));
    expect(cpu.load32(va + KiB4, false)).toBe(marker(1));
    cpu.flushTlb();
    expect(cpu.load32(va + KiB4, false)).toBe(marker(3));
    t.write(g, frame(4) | URW | PG_G);
    cpu.setControl({ cr3: t.root });
    expect(cpu.load32(va + KiB4, false)).toBe(marker(3));
    cpu.invlpg(va + KiB4);
    expect(cpu.load32(va + KiB4, false)).toBe(marker(4));
  });

  it("2 MiB and 1 GiB entries are cached whole, survive CR3 when global, and INVLPG anywhere inside drops them", () => {
    const { m, t, cpu } = setup();
    cpu.setControl({ pge: true });
    for (const [size, lva] of [
      [MiB2, UPPER + 4 * MiB2],
      [GiB, UPPER + 7 * GiB],
    ] as const) {
      m.memory.write32(0x40_0000 + 0x3000, 0x4444);
      m.memory.write32(0x80_0000 + 0x3000, 0x8888);
      const old = size === GiB ? 0 : 0x40_0000; // a 1 GiB page at 0 (RAM is the first 16 MiB of it)
      const at = t.map(lva, old, URW | PG_G, size);
      const off = (size === GiB ? 0x40_0000 : 0) + 0x3000;
      expect(cpu.load32(lva + off, false)).toBe(0x4444);
      expect(cpu.tlbEntries()).toMatchObject([{ va: lva, pa: old, size, global: true }]);
      const m0 = misses(m);
      cpu.translate(lva + size - 4, read);
      expect(misses(m)).toBe(m0);
      // Move it: the entry is stale, through a CR3 write too (global).
      const moved = size === GiB ? 0x40_0000_0000 : 0x80_0000; // 1 GiB: 256 GiB, beyond RAM
      t.write(at, (moved % 2 ** 32) | URW | PG_G | PG_PS | AD, Math.floor(moved / 2 ** 32));
      cpu.setControl({ cr3: t.root });
      expect(cpu.translate(lva + off, read)).toEqual({ pa: old + off });
      cpu.invlpg(lva + size - KiB4 + 0x10);
      expect(cpu.tlbEntries()).toEqual([]);
      expect(cpu.translate(lva + off, read)).toEqual({ pa: moved + off });
      if (size === MiB2) expect(cpu.load32(lva + off, false)).toBe(0x8888);
      cpu.flushTlb();
    }
  });

  it("a write through a clean entry re-walks and sets D; an upgrade without INVLPG costs one spurious #PF", () => {
    const { m, t, cpu } = setup();
    const pte = t.map(va, frame(0), PG_V | PG_U);
    expect(cpu.load32(va, true)).toBe(0);
    expect(t.lo(pte) & AD).toBe(PG_A);
    t.write(pte, frame(0) | URW | PG_A);
    expect(cpu.store32(va, 5, true)).toBe(false);
    expect([cpu.faultVector, cpu.faultErrorCode, cpu.cr2]).toEqual([VEC_PF, PFERR_P | PFERR_W | PFERR_U, va]);
    expect(cpu.store32(va, 5, true)).toBe(true);
    expect(t.lo(pte) & AD).toBe(AD);
    expect(m.memory.read32(frame(0))).toBe(5);

    // Clean entry from a read, D set by the first write's re-walk.
    const pte2 = t.map(va + KiB4, frame(1), URW);
    cpu.load32(va + KiB4, false);
    expect(cpu.tlbEntries().find((e) => e.va === va + KiB4)?.dirty).toBe(false);
    const m0 = misses(m);
    cpu.store32(va + KiB4, 1, false);
    expect(misses(m)).toBe(m0 + 1);
    expect(t.lo(pte2) & AD).toBe(AD);
    expect(cpu.tlbEntries().find((e) => e.va === va + KiB4)?.dirty).toBe(true);
  });

  it("set-associative eviction uses the low bits of 36-bit page numbers", () => {
    const { m, t, cpu } = setup({ tlb: { smallSets: 4, smallWays: 2 } });
    markFrames(m);
    const p = (i: number) => UPPER + i * 4 * KiB4; // all in set 0
    for (let i = 0; i < 3; i++) t.map(p(i), frame(i), URW);
    t.map(UPPER + KiB4, frame(9), URW); // set 1
    cpu.load32(UPPER + KiB4, false);
    cpu.load32(p(0), false);
    cpu.load32(p(1), false);
    const m0 = misses(m);
    cpu.load32(p(0), false);
    cpu.load32(p(1), false);
    expect(misses(m)).toBe(m0);
    cpu.load32(p(2), false); // evicts p(0)
    expect(cpu.tlbEntries().map((e) => e.va)).toEqual([p(1), UPPER + KiB4, p(2)].sort((x, y) => x - y));
    expect(cpu.load32(p(0), false)).toBe(marker(0));
    expect(misses(m)).toBe(m0 + 2);
  });

  it("micro-TLB coherence at upper-half addresses", () => {
    const { m, t, cpu } = setup();
    markFrames(m);
    const pte = t.map(va, frame(0), URW);
    expect(cpu.load32(va, false)).toBe(marker(0));
    expect(cpu.load32(va, false)).toBe(marker(0));
    cpu.invlpg(va);
    t.write(pte, frame(1) | URW);
    expect(cpu.load32(va, false)).toBe(marker(1));
    cpu.store32(va + 8, 1, true);
    cpu.store32(va + 8, 2, true);
    cpu.invlpg(va);
    t.write(pte, frame(2) | URW);
    cpu.store32(va + 8, 3, true);
    expect([m.memory.read32(frame(1) + 8), m.memory.read32(frame(2) + 8)]).toEqual([2, 3]);
    // The same low 32 bits in the lower half is a different page.
    t.map(va % 2 ** 32, frame(5), URW);
    expect(cpu.load32(va % 2 ** 32, false)).toBe(marker(5));
    expect(cpu.load32(va, false)).toBe(marker(2));
  });

  it("shootdown by IPI on two CPUs; without it the other CPU stays stale", () => {
    const { m, t } = setup({ cpus: 2 });
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    markFrames(m);
    const pte = t.map(va, frame(0), URW);
    expect([c0.load32(va, false), c1.load32(va, false)]).toEqual([marker(0), marker(0)]);
    t.write(pte, frame(1) | URW);
    c0.invlpg(va);
    m.ipi(c0, c1, (c) => {
      expect(m.curcpu).toBe(c1);
      c.invlpg(va);
    });
    expect([c0.load32(va, false), c1.load32(va, false)]).toEqual([marker(1), marker(1)]);
    t.write(pte, frame(2) | URW);
    c0.invlpg(va);
    expect([c0.load32(va, false), c1.load32(va, false)]).toEqual([marker(2), marker(1)]);
    expect(m.stats()["ipi.sent"]).toBe(1);
  });

  it("a miss reads four levels: cycles = tlbMiss + 4 walkLevel + A updates + the access", () => {
    const { m, t, cpu } = setup();
    t.map(va, frame(0), URW);
    const c0 = cpu.cycles;
    cpu.load32(va, false);
    const d = DEFAULT_COSTS;
    expect(cpu.cycles - c0).toBe(d.tlbMiss + 4 * d.walkLevel + 4 * d.adUpdate + d.memAccess);
    const c1 = cpu.cycles;
    cpu.load32(va + 4, false);
    expect(cpu.cycles - c1).toBe(d.memAccess);
    expect(m.stats()["walk.levels"]).toBe(4);
  });
});

// ------------------------------------------------------------------------------------------------

describe("RAM above 4 GiB", () => {
  it("3.5 GiB: frames above the hole through 4 KiB PTEs and through the direct map", () => {
    const m = amd64({ memoryMiB: 3584 }).boot(); // allocated lazily; freed with the test's scope
    const mem = m.memory;
    expect(mem.ranges).toEqual([
      { base: 0, size: 3 * GiB },
      { base: HOLE_END, size: GiB / 2 },
    ]);
    const t = new Tables(m);
    const cpu = m.cpus[0] as Cpu;
    const high = HOLE_END + 0x1234_5000;
    const va = UPPER + 0x10_0000;
    const pte = t.map(va, high, URW);
    expect(m.memory.read64(pte)).toEqual([(0x1234_5000 | URW) >>> 0, 1]);
    let next = 0x80_0000;
    const used = buildDirectMap(mem, t.root, () => (next += 4096) - 4096, { pageSize: SIZE_1G, limit: mem.topPa });
    expect(used).toBe(1);
    cpu.setControl({ cr3: t.root, nxe: true, pge: true });

    expect(cpu.translate(va + 0x40, uread)).toEqual({ pa: high + 0x40 });
    expect(cpu.store32(va + 0x40, 0xc0ffee, true)).toBe(true);
    expect(mem.read32(high + 0x40)).toBe(0xc0ffee);
    mem.write32(high + 0x44, 0x5eed);
    expect(cpu.load32(va + 0x44, true)).toBe(0x5eed);
    // The same bytes through the direct map (a 1 GiB page covering 4-5 GiB, half backed).
    expect(cpu.translate(physToDmap(high + 0x40), read)).toEqual({ pa: high + 0x40 });
    expect(cpu.load32(physToDmap(high + 0x44), false)).toBe(0x5eed);
    expect(cpu.store32(physToDmap(HOLE_END + GiB / 2 - 4), 0x7007, false)).toBe(true);
    expect(mem.read32(HOLE_END + GiB / 2 - 4)).toBe(0x7007);
    // Past the top of RAM and in the PCI hole: mapped, but no memory answers.
    expect(() => cpu.load32(physToDmap(HOLE_END + GiB / 2), false)).toThrow(MachineCheck);
    expect(() => cpu.load32(physToDmap(3 * GiB + 0x1000), false)).toThrow(MachineCheck);
    expect(cpu.load32(physToDmap(0x5000), false)).toBe(0);
  });
});
