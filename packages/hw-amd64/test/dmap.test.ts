/**
 * The amd64 direct map, as FreeBSD builds it (sys/amd64/include/vmparam.h DMAP_MIN_ADDRESS,
 * PHYS_TO_DMAP; sys/amd64/amd64/pmap.c create_pagetables): every physical page mapped once at
 * DMAP_MIN_ADDRESS + pa, read/write, supervisor-only, global, no-execute, with 2 MiB or 1 GiB pages.
 */
import { SIZE_1G, SIZE_2M } from "@vmlab/core";
import {
  type Cpu,
  type Machine,
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
  PG_V,
  VEC_PF,
} from "@vmlab/machine";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  amd64,
  buildDirectMap,
  DMAP_MAX_ADDRESS,
  DMAP_MIN_ADDRESS,
  DMPML4I,
  dmapToPhys,
  NDMPML4E,
  physToDmap,
} from "../src/index.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const TiB = 2 ** 40;
const PML4 = 0x1000;
const TABLE = PG_V | PG_RW | PG_A;
const LEAF = PG_V | PG_RW | PG_A | PG_M | PG_G | PG_PS;

const pf = (errorCode: number, va: number) => ({ fault: { vector: VEC_PF, errorCode, va } });
const read = { access: "read", user: false } as const;

/** A machine with an empty PML4 at 0x1000 and a bump allocator of table pages from 0x10000. */
function setup(memoryMiB = 16) {
  const m = amd64({ memoryMiB }).boot();
  let next = 0x1_0000;
  const pages: number[] = [];
  const alloc = () => {
    const pa = next;
    next += 4096;
    pages.push(pa);
    return pa;
  };
  return { m, cpu: m.cpus[0] as Cpu, alloc, pages };
}

function start(m: Machine, cpu: Cpu) {
  cpu.setControl({ cr3: PML4, nxe: true, pge: true });
  return m;
}

describe("direct-map constants and conversions", () => {
  it("match FreeBSD amd64: PML4 slot 496, 8 slots (4 TiB), base 0xfffff80000000000 as a 48-bit value", () => {
    expect(DMPML4I).toBe(496);
    expect(NDMPML4E).toBe(8);
    expect(DMAP_MIN_ADDRESS).toBe(0xf800_0000_0000);
    expect(DMAP_MAX_ADDRESS).toBe(0xfc00_0000_0000);
    expect(DMAP_MAX_ADDRESS - DMAP_MIN_ADDRESS).toBe(4 * TiB);
    expect(DMAP_MIN_ADDRESS + 0xffff_0000_0000_0000).toBe(0xffff_f800_0000_0000); // sign extension
  });

  it("PHYS_TO_DMAP and DMAP_TO_PHYS", () => {
    expect(physToDmap(0)).toBe(DMAP_MIN_ADDRESS);
    expect(physToDmap(0x1234_5000)).toBe(0xf800_1234_5000);
    expect(physToDmap(4 * TiB - 1)).toBe(DMAP_MAX_ADDRESS - 1);
    expect(dmapToPhys(0xf800_1234_5678)).toBe(0x1234_5678);
    expect(dmapToPhys(DMAP_MAX_ADDRESS - 1)).toBe(4 * TiB - 1);
  });

  it("round-trip for every physical address the window covers (property)", () => {
    fc.assert(
      fc.property(fc.nat({ max: 4 * TiB - 1 }), (pa) => {
        const va = physToDmap(pa);
        expect(va).toBeGreaterThanOrEqual(DMAP_MIN_ADDRESS);
        expect(va).toBeLessThan(DMAP_MAX_ADDRESS);
        expect(dmapToPhys(va)).toBe(pa);
        expect(va % 4096).toBe(pa % 4096);
      }),
    );
  });

  it("reject addresses outside the window", () => {
    expect(() => physToDmap(-1)).toThrow(RangeError);
    expect(() => physToDmap(4 * TiB)).toThrow("PHYS_TO_DMAP: 0x40000000000 out of range");
    expect(() => physToDmap(Number.NaN)).toThrow(RangeError);
    expect(() => dmapToPhys(DMAP_MIN_ADDRESS - 1)).toThrow("DMAP_TO_PHYS: 0xf7ffffffffff not in the direct map");
    expect(() => dmapToPhys(DMAP_MAX_ADDRESS)).toThrow(RangeError);
    expect(() => dmapToPhys(0x1000)).toThrow(RangeError);
  });
});

describe("buildDirectMap with 2 MiB pages", () => {
  it("writes PML4[496] → PDPT → PD of 2 MiB leaves (RW, supervisor, A, D, G, NX) up to the limit", () => {
    const { m, alloc, pages } = setup();
    const used = buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: 16 * MiB });
    expect(used).toBe(2);
    const [pdpt, pd] = pages as [number, number];
    expect(m.memory.read64(PML4 + 8 * DMPML4I)).toEqual([pdpt | TABLE, 0]);
    expect(m.memory.read64(PML4 + 8 * (DMPML4I + 1))).toEqual([0, 0]);
    expect(m.memory.read64(pdpt)).toEqual([pd | TABLE, 0]);
    for (let i = 0; i < 8; i++) expect(m.memory.read64(pd + 8 * i)).toEqual([i * 2 * MiB + LEAF, PG_NX_HI]);
    expect(m.memory.read64(pd + 8 * 8)).toEqual([0, 0]);
  });

  it("translate(physToDmap(pa)) from the supervisor returns pa; user access and fetches fault", () => {
    const { m, cpu, alloc } = setup();
    buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: m.memory.topPa });
    start(m, cpu);
    for (const pa of [0, 0x1000, 0x1f_fffc, 2 * MiB, 0x7a_b123, 16 * MiB - 1]) {
      expect(cpu.translate(physToDmap(pa), read)).toEqual({ pa });
      expect(cpu.translate(physToDmap(pa), { access: "write", user: false })).toEqual({ pa });
    }
    const va = physToDmap(0x30_0000);
    expect(cpu.translate(va, { access: "read", user: true })).toEqual(pf(PFERR_P | PFERR_U, va));
    expect(cpu.translate(va, { access: "write", user: true })).toEqual(pf(PFERR_P | PFERR_U | PFERR_W, va));
    expect(cpu.translate(va, { access: "exec", user: false })).toEqual(pf(PFERR_P | PFERR_ID, va));
    expect(cpu.translate(physToDmap(16 * MiB), read)).toEqual(pf(0, physToDmap(16 * MiB))); // beyond the limit
  });

  it("reads and writes physical memory through the window; TLB entries are 2 MiB, global, NX, already dirty", () => {
    const { m, cpu, alloc } = setup();
    buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: m.memory.topPa });
    start(m, cpu);
    m.memory.write32(0x50_0010, 0x1234_5678);
    expect(cpu.load32(physToDmap(0x50_0010), false)).toBe(0x1234_5678);
    expect(cpu.store32(physToDmap(0x50_0020), 0xcafe, false)).toBe(true);
    expect(m.memory.read32(0x50_0020)).toBe(0xcafe);
    expect(cpu.tlbEntries()).toEqual([
      {
        va: physToDmap(0x40_0000),
        pa: 0x40_0000,
        size: 2 * MiB,
        writable: true,
        user: false,
        noExec: true,
        dirty: true,
        global: true,
      },
    ]);
    // A and D are preset: the walk never writes to the direct map's tables.
    expect(m.stats()["walk.ad_updates"]).toBe(0);
    // Global: survives a CR3 write.
    cpu.setControl({ cr3: PML4 });
    expect(cpu.tlbEntries()).toHaveLength(1);
  });

  it("rounds the limit up to the page size and counts table pages: one PD per GiB", () => {
    const a = setup();
    expect(buildDirectMap(a.m.memory, PML4, a.alloc, { pageSize: SIZE_2M, limit: 3 * MiB })).toBe(2);
    start(a.m, a.cpu);
    expect(a.cpu.translate(physToDmap(4 * MiB - 4), read)).toEqual({ pa: 4 * MiB - 4 });
    expect(a.cpu.translate(physToDmap(4 * MiB), read)).toEqual(pf(0, physToDmap(4 * MiB)));

    const b = setup();
    expect(buildDirectMap(b.m.memory, PML4, b.alloc, { pageSize: SIZE_2M, limit: 3 * GiB })).toBe(1 + 3);
    start(b.m, b.cpu);
    expect(b.cpu.translate(physToDmap(3 * GiB - 1), read)).toEqual({ pa: 3 * GiB - 1 });
  });

  it("reuses tables already present under the PML4", () => {
    const { m, alloc } = setup();
    expect(buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: 8 * MiB })).toBe(2);
    const before = m.memory.readBytes(0x1_0000, 2 * 4096);
    expect(buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: 8 * MiB })).toBe(0);
    expect([...m.memory.readBytes(0x1_0000, 2 * 4096)]).toEqual([...before]);
    // Growing the map adds leaves to the same PD.
    expect(buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: 16 * MiB })).toBe(0);
  });
});

describe("buildDirectMap with 1 GiB pages", () => {
  it("needs one PDPT per 512 GiB and maps with 1 GiB leaves", () => {
    const { m, cpu, alloc, pages } = setup();
    expect(buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: 16 * MiB })).toBe(1);
    expect(m.memory.read64((pages[0] as number) + 0)).toEqual([LEAF, PG_NX_HI]);
    expect(m.memory.read64((pages[0] as number) + 8)).toEqual([0, 0]);
    start(m, cpu);
    m.memory.write32(0xab_cdef & ~3, 0x600d);
    expect(cpu.load32(physToDmap(0xab_cdef & ~3), false)).toBe(0x600d);
    expect(cpu.translate(physToDmap(GiB - 1), read)).toEqual({ pa: GiB - 1 });
    expect(cpu.tlbEntries()).toMatchObject([{ va: DMAP_MIN_ADDRESS, pa: 0, size: GiB, global: true, noExec: true }]);
    const va = physToDmap(0x1000);
    expect(cpu.translate(va, { access: "read", user: true })).toEqual(pf(PFERR_P | PFERR_U, va));
    expect(cpu.translate(va, { access: "exec", user: false })).toEqual(pf(PFERR_P | PFERR_ID, va));
  });

  it("spans PML4 slots past 512 GiB (translation only: no RAM is needed to walk)", () => {
    const { m, cpu, alloc, pages } = setup();
    expect(buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: 513 * GiB })).toBe(2);
    expect(m.memory.read64(PML4 + 8 * (DMPML4I + 1))).toEqual([(pages[1] as number) | TABLE, 0]);
    start(m, cpu);
    expect(cpu.translate(physToDmap(512 * GiB + 5), read)).toEqual({ pa: 512 * GiB + 5 });
    expect(cpu.translate(physToDmap(511 * GiB + 7), read)).toEqual({ pa: 511 * GiB + 7 });
    expect(cpu.translate(physToDmap(513 * GiB), read)).toEqual(pf(0, physToDmap(513 * GiB)));
  });

  it("maps up to MAXPHYADDR (2^40) and refuses a limit beyond it", () => {
    const { m, cpu, alloc } = setup();
    expect(() => buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: TiB + GiB })).toThrow(
      /beyond MAXPHYADDR/,
    );
    buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: TiB });
    start(m, cpu);
    expect(cpu.translate(physToDmap(TiB - 8), read)).toEqual({ pa: TiB - 8 });
  });
});

describe("buildDirectMap errors and requirements", () => {
  it("refuses a limit beyond the 8 slots (4 TiB) and unaligned table pages", () => {
    const { m, alloc } = setup();
    expect(() => buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: 4 * TiB + 1 })).toThrow(
      /exceeds 8 PML4 slots/,
    );
    expect(() => buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: 2 * TiB })).toThrow(
      /beyond MAXPHYADDR/,
    );
    expect(() => buildDirectMap(m.memory, PML4, () => 0x1_0800, { pageSize: SIZE_2M, limit: MiB })).toThrow(
      "table page 0x10800 not aligned",
    );
    expect(buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_1G, limit: TiB })).toBe(2);
  });

  it("sets NX in every leaf, so it needs EFER.NXE: without it every access faults with RSVD", () => {
    const { m, cpu, alloc } = setup();
    buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: 4 * MiB });
    cpu.setControl({ cr3: PML4 });
    const va = physToDmap(0x2000);
    expect(cpu.translate(va, read)).toEqual(pf(PFERR_P | PFERR_RSVD, va));
    cpu.setControl({ nxe: true });
    expect(cpu.translate(va, read)).toEqual({ pa: 0x2000 });
  });

  it("with nx: false (FreeBSD's pg_nx = 0 on a CPU without NX) it works without EFER.NXE", () => {
    const { m, cpu, alloc } = setup();
    buildDirectMap(m.memory, PML4, alloc, { pageSize: SIZE_2M, limit: 4 * MiB, nx: false });
    cpu.setControl({ cr3: PML4 });
    const va = physToDmap(0x2000);
    expect(cpu.translate(va, read)).toEqual({ pa: 0x2000 });
    expect(cpu.translate(va, { access: "exec", user: false })).toEqual({ pa: 0x2000 });
  });
});
