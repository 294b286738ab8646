/**
 * The Tlb structure on its own: geometry, set-associative placement and FIFO replacement, the
 * fully associative large-page array, INVLPG and flush semantics, and the inspection view.
 * (TLB behaviour seen through a CPU walking real tables is tested in hw-i386 and hw-amd64.)
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_TLB, TLBF_D, TLBF_G, TLBF_U, TLBF_W, TLBF_XD, Tlb } from "../src/index.js";

const SZ_2M = 0x20_0000;
const SZ_4M = 0x40_0000;
const SZ_1G = 0x4000_0000;

const smallVpns = (t: Tlb) =>
  t
    .entries()
    .filter((e) => e.size === 4096)
    .map((e) => e.va / 4096);

describe("Tlb geometry", () => {
  it("defaults to 16 sets x 4 ways of 4 KiB entries and 16 large entries", () => {
    expect(DEFAULT_TLB).toEqual({ smallSets: 16, smallWays: 4, largeEntries: 16 });
    expect(Object.isFrozen(DEFAULT_TLB)).toBe(true);
    const t = new Tlb(DEFAULT_TLB);
    expect(t.sTag.length).toBe(64);
    expect(t.lTag.length).toBe(16);
    expect(t.entries()).toEqual([]);
  });

  it("rejects non-power-of-two sets, ways outside 1..64, large entries outside 1..256", () => {
    expect(() => new Tlb({ smallSets: 3, smallWays: 4, largeEntries: 4 })).toThrow(RangeError);
    expect(() => new Tlb({ smallSets: 0, smallWays: 4, largeEntries: 4 })).toThrow(/power of two/);
    expect(() => new Tlb({ smallSets: 4, smallWays: 0, largeEntries: 4 })).toThrow(/ways must be 1..64/);
    expect(() => new Tlb({ smallSets: 4, smallWays: 65, largeEntries: 4 })).toThrow(RangeError);
    expect(() => new Tlb({ smallSets: 4, smallWays: 4, largeEntries: 0 })).toThrow(/large TLB entries/);
    expect(() => new Tlb({ smallSets: 4, smallWays: 4, largeEntries: 257 })).toThrow(RangeError);
    expect(() => new Tlb({ smallSets: 1, smallWays: 64, largeEntries: 256 })).not.toThrow();
  });
});

describe("4 KiB entries", () => {
  it("index the set by the low bits of the page number", () => {
    const t = new Tlb({ smallSets: 4, smallWays: 2, largeEntries: 1 });
    const s = t.fillSmall(6, 0x9000, 9, TLBF_W);
    expect(Math.floor(s / 2)).toBe(6 & 3);
    expect(t.findSmall(6)).toBe(s);
    expect(t.findSmall(2)).toBe(-1); // same set, other tag
    expect(t.sPa[s]).toBe(0x9000);
    expect(t.sWord[s]).toBe(9);
    expect(t.sFlags[s]).toBe(TLBF_W);
  });

  it("replace first-in first-out within a set and leave other sets alone", () => {
    const t = new Tlb({ smallSets: 4, smallWays: 2, largeEntries: 1 });
    t.fillSmall(1, 0x1000, 0, 0); // set 1
    t.fillSmall(0, 0x2000, 0, 0); // set 0, way 0
    t.fillSmall(4, 0x3000, 0, 0); // set 0, way 1
    expect(smallVpns(t)).toEqual([0, 1, 4]);
    t.fillSmall(8, 0x4000, 0, 0); // set 0 full: evicts vpn 0 (oldest)
    expect(smallVpns(t)).toEqual([1, 4, 8]);
    t.fillSmall(12, 0x5000, 0, 0); // evicts vpn 4
    expect(smallVpns(t)).toEqual([1, 8, 12]);
    expect(t.findSmall(1)).toBeGreaterThanOrEqual(0);
  });

  it("refill of a present page updates it in place without evicting another", () => {
    const t = new Tlb({ smallSets: 1, smallWays: 2, largeEntries: 1 });
    const a = t.fillSmall(10, 0x1000, 1, 0);
    t.fillSmall(11, 0x2000, 2, 0);
    const a2 = t.fillSmall(10, 0x7000, 7, TLBF_D | TLBF_W);
    expect(a2).toBe(a);
    expect(smallVpns(t)).toEqual([10, 11]);
    expect(t.entries()[0]).toMatchObject({ va: 10 * 4096, pa: 0x7000, dirty: true, writable: true });
  });

  it("hold page numbers above 2^32 (48-bit linear addresses)", () => {
    const t = new Tlb({ smallSets: 16, smallWays: 1, largeEntries: 1 });
    const vpn = 0xf80000000000 / 4096 + 5;
    t.fillSmall(vpn, 0x1_2345_6000, -1, 0);
    expect(t.findSmall(vpn)).toBeGreaterThanOrEqual(0);
    expect(t.findSmall(vpn - 2 ** 32)).toBe(-1);
    expect(t.entries()).toEqual([
      {
        va: 0xf80000005000,
        pa: 0x1_2345_6000,
        size: 4096,
        writable: false,
        user: false,
        noExec: false,
        dirty: false,
        global: false,
      },
    ]);
    t.invalidateAddress(vpn * 4096, vpn);
    expect(t.entries()).toEqual([]);
  });
});

describe("large entries", () => {
  it("cover every address of the page and nothing outside it", () => {
    const t = new Tlb({ smallSets: 1, smallWays: 1, largeEntries: 4 });
    const s = t.fillLarge(SZ_4M * 3, SZ_4M, 0x80_0000, 0, 0);
    expect(t.findLarge(SZ_4M * 3)).toBe(s);
    expect(t.findLarge(SZ_4M * 4 - 1)).toBe(s);
    expect(t.findLarge(SZ_4M * 3 - 1)).toBe(-1);
    expect(t.findLarge(SZ_4M * 4)).toBe(-1);
  });

  it("are dropped by INVLPG of any address in the page", () => {
    for (const [size, off] of [
      [SZ_2M, SZ_2M - 4096],
      [SZ_4M, 0x12_3456],
      [SZ_1G, SZ_1G - 1],
    ] as const) {
      const t = new Tlb({ smallSets: 1, smallWays: 1, largeEntries: 4 });
      t.fillLarge(size * 2, size, 0, 0, TLBF_G);
      t.fillLarge(size * 5, size, 0, 0, 0);
      const va = size * 2 + off;
      expect(t.invalidateAddress(va, Math.floor(va / 4096))).toBe(1);
      expect(t.findLarge(size * 2)).toBe(-1);
      expect(t.findLarge(size * 5)).toBeGreaterThanOrEqual(0);
    }
  });

  it("replace first-in first-out, and a refill of the same page reuses its slot", () => {
    const t = new Tlb({ smallSets: 1, smallWays: 1, largeEntries: 2 });
    const a = t.fillLarge(0, SZ_2M, 0x100_0000, 0, 0);
    t.fillLarge(SZ_2M, SZ_2M, 0x120_0000, 0, 0);
    expect(t.fillLarge(0, SZ_2M, 0x140_0000, 0, TLBF_D)).toBe(a);
    expect(t.entries().map((e) => [e.va, e.pa])).toEqual([
      [0, 0x140_0000],
      [SZ_2M, 0x120_0000],
    ]);
    t.fillLarge(2 * SZ_2M, SZ_2M, 0x160_0000, 0, 0); // evicts the oldest insertion (va 0; its refill did not renew it)
    expect(t.entries().map((e) => e.va)).toEqual([SZ_2M, 2 * SZ_2M]);
  });
});

describe("invalidation", () => {
  it("INVLPG drops the page's small and large entries, global ones included, and nothing else", () => {
    const t = new Tlb({ smallSets: 4, smallWays: 2, largeEntries: 2 });
    t.fillSmall(0x400, 0x1000, 0, TLBF_G);
    t.fillSmall(0x401, 0x2000, 0, 0);
    t.fillSmall(0x404, 0x3000, 0, 0);
    t.fillLarge(SZ_4M, SZ_4M, 0, 0, TLBF_G);
    const g = t.generation;
    // 0x400000 is both vpn 0x400 and inside the large page at 4 MiB.
    expect(t.invalidateAddress(0x40_0000, 0x400)).toBe(2);
    expect(t.generation).toBeGreaterThan(g);
    expect(t.entries().map((e) => e.va)).toEqual([0x401 * 4096, 0x404 * 4096]);
    expect(t.invalidateAddress(0x40_0000, 0x400)).toBe(0);
  });

  it("flush(true) keeps global entries (CR3 write with PGE); flush(false) drops everything", () => {
    const t = new Tlb({ smallSets: 2, smallWays: 2, largeEntries: 2 });
    t.fillSmall(1, 0x1000, 0, TLBF_G | TLBF_W);
    t.fillSmall(2, 0x2000, 0, TLBF_W);
    t.fillLarge(SZ_2M, SZ_2M, 0, 0, TLBF_G);
    t.fillLarge(2 * SZ_2M, SZ_2M, 0, 0, 0);
    t.flush(true);
    expect(t.entries().map((e) => [e.va, e.global])).toEqual([
      [4096, true],
      [SZ_2M, true],
    ]);
    t.flush(false);
    expect(t.entries()).toEqual([]);
  });
});

describe("entries()", () => {
  it("shows va, pa, size and decoded flags, sorted by address", () => {
    const t = new Tlb({ smallSets: 4, smallWays: 2, largeEntries: 2 });
    t.fillLarge(SZ_1G, SZ_1G, 0x80_0000_0000, -1, TLBF_G | TLBF_XD | TLBF_D | TLBF_W);
    t.fillSmall(3, 0x5000, 5, TLBF_U);
    t.fillSmall(1, 0x7000, 7, TLBF_W | TLBF_U | TLBF_D);
    expect(t.entries()).toEqual([
      { va: 0x1000, pa: 0x7000, size: 4096, writable: true, user: true, noExec: false, dirty: true, global: false },
      { va: 0x3000, pa: 0x5000, size: 4096, writable: false, user: true, noExec: false, dirty: false, global: false },
      {
        va: SZ_1G,
        pa: 0x80_0000_0000,
        size: SZ_1G,
        writable: true,
        user: false,
        noExec: true,
        dirty: true,
        global: true,
      },
    ]);
  });
});
