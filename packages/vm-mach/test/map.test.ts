import {
  INHERIT_COPY,
  INHERIT_SHARE,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_NO_SPACE,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  MADV_RANDOM,
  PAGE_SIZE,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import { FLAT_LAYOUT } from "@vmlab/testkit";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function entries(s: VmSpace): [number, number][] {
  return (s as MachSpace).map.entries().map((e) => [e.start, e.end]);
}

describe("vm_map_find / vm_map_insert", () => {
  it("places anonymous memory first fit from userMin, and at or above a free hint", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(a).toBe(FLAT_LAYOUT.userMin);
    const b = t.mmap(s, P);
    expect(b).toBe(a + 2 * P);
    const h = t.mmap(s, P, { addr: 0x1000_0000 });
    expect(h).toBe(0x1000_0000);
    const h2 = t.mmap(s, P, { addr: 0x1000_0000 });
    expect(h2).toBe(0x1000_0000 + P);
    t.audit();
  });

  it("an occupied or out-of-range hint still succeeds (NetBSD t_mmap mmap_hint)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const m1 = t.mmap(s, P, { addr: 0x2000_0000 });
    const m2 = t.mmap(s, P, { addr: m1 });
    expect(m2).not.toBe(m1);
    const m3 = t.mmap(s, P, { addr: FLAT_LAYOUT.userMax - P / 2 });
    expect(m3).toBeGreaterThanOrEqual(FLAT_LAYOUT.userMin);
    expect(m3 + P).toBeLessThanOrEqual(FLAT_LAYOUT.userMax);
    t.audit();
  });

  it("never places memory at or beyond userMax: KERN_NO_SPACE when nothing fits", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const { userMin, userMax } = FLAT_LAYOUT;
    const r = t.vm.map(s, {
      addr: 0,
      len: userMax - userMin + P,
      prot: RW,
      maxProt: Prot.All,
      fixed: false,
      shared: false,
      inheritance: INHERIT_COPY,
      wired: false,
    });
    expect(r.rv).toBe(KERN_NO_SPACE);
    const big = t.mmap(s, userMax - userMin - P);
    expect(big).toBe(userMin);
    const last = t.mmap(s, P);
    expect(last).toBe(userMax - P);
    expect(() => t.mmap(s, P)).toThrow();
    t.audit();
  });

  it("MAP_FIXED replaces whatever was there", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 7);
    const b = t.mmap(s, 2 * P, { addr: a + P, fixed: true });
    expect(b).toBe(a + P);
    expect(t.readPages(s, a, 4 * P)).toEqual([7, 0, 0, 7]);
    t.audit();
  });

  it("MAP_FIXED of PROT_NONE over RW and back (t_mmap mmap_reprotect_race, OpenBSD mmap_fixed)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const p = t.mmap(s, 13 * P, { prot: Prot.None });
    for (let i = 0; i < 20; i++) {
      const q = t.mmap(s, 13 * P, { addr: p, fixed: true, prot: Prot.All });
      expect(q).toBe(p);
      t.store8(s, q + 12 * P, i);
    }
    expect((s as MachSpace).map.size).toBe(13 * P);
    expect(t.vm.unmap(s, p, 13 * P)).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("refuses a protection above the maximum at map time", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const r = t.vm.map(s, {
      addr: 0,
      len: P,
      prot: RW,
      maxProt: Prot.Read,
      fixed: false,
      shared: false,
      inheritance: INHERIT_COPY,
      wired: false,
    });
    expect(r.rv).toBe(KERN_PROTECTION_FAILURE);
  });

  it("grows the previous entry and its object instead of making a new one (vm_object_coalesce)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 1);
    const b = t.mmap(s, P);
    expect(b).toBe(a + P);
    expect(entries(s)).toEqual([[a, a + 2 * P]]);
    expect(t.stat("vm.map.coalesce")).toBe(1);
    t.store8(s, b, 2);
    expect(t.readPages(s, a, 2 * P)).toEqual([1, 2]);
    t.audit();
  });

  it("does not resurrect pages left in an object past an unmapped tail", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    t.fillPages(s, a, 2 * P, 9);
    expect(t.vm.unmap(s, a + P, P)).toBe(KERN_SUCCESS);
    const b = t.mmap(s, P);
    expect(b).toBe(a + P);
    expect(t.load8(s, b)).toBe(0);
    t.audit();
  });
});

describe("vm_map_delete: unmap, clipping", () => {
  it("unmaps the middle of an entry, leaving two clipped entries with the right data", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 5 * P);
    for (let i = 0; i < 5; i++) t.store8(s, a + i * P, i + 1);
    expect(t.vm.unmap(s, a + P, 2 * P)).toBe(KERN_SUCCESS);
    expect(entries(s)).toEqual([
      [a, a + P],
      [a + 3 * P, a + 5 * P],
    ]);
    expect(t.load8(s, a)).toBe(1);
    expect(t.tryLoad(s, a + P)).toBe(KERN_INVALID_ADDRESS);
    expect(t.tryLoad(s, a + 2 * P)).toBe(KERN_INVALID_ADDRESS);
    expect(t.readPages(s, a + 3 * P, 2 * P)).toEqual([4, 5]);
    expect(t.pmapOf(s).extract(a + P)).toBeUndefined();
    t.audit();
  });

  it("unmaps across several entries and holes; unmapping a hole succeeds", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    const b = t.mmap(s, 2 * P, { addr: a + 4 * P });
    t.fillPages(s, a, 2 * P, 1);
    t.fillPages(s, b, 2 * P, 2);
    expect(t.vm.unmap(s, a + P, 4 * P)).toBe(KERN_SUCCESS);
    expect(entries(s)).toEqual([
      [a, a + P],
      [b + P, b + 2 * P],
    ]);
    expect(t.vm.unmap(s, a + 10 * P, 4 * P)).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("frees the pages of an unmapped private region", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const free0 = t.vm.freePages;
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 1);
    expect(t.vm.freePages).toBe(free0 - 4);
    expect(t.vm.unmap(s, a, 4 * P)).toBe(KERN_SUCCESS);
    expect(t.vm.freePages).toBe(free0);
    t.audit();
  });

  it("isMapped sees holes", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 3 * P);
    expect(t.vm.isMapped(s, a, 3 * P)).toBe(true);
    t.vm.unmap(s, a + P, P);
    expect(t.vm.isMapped(s, a, 3 * P)).toBe(false);
    expect(t.vm.isMapped(s, a, P)).toBe(true);
  });
});

describe("vm_map_protect", () => {
  it("lowers rights in the pmap at once and raises them at the next fault", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    t.fillPages(s, a, 2 * P, 1);
    expect(t.vm.protect(s, a, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).protOf(a)).toBe(Prot.Read);
    expect(t.tryStore(s, a, 2)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.tryStore(s, a + P, 2)).toBe(KERN_SUCCESS);
    expect(t.vm.protect(s, a, P, RW, false)).toBe(KERN_SUCCESS);
    expect(t.tryStore(s, a, 3)).toBe(KERN_SUCCESS);
    expect(t.readPages(s, a, 2 * P)).toEqual([3, 2]);
    t.audit();
  });

  it("PROT_NONE removes the translations and keeps the data", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 5);
    expect(t.vm.protect(s, a, P, Prot.None, false)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.tryLoad(s, a)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.protect(s, a, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.load8(s, a)).toBe(5);
    t.audit();
  });

  it("refuses a protection above max_protection with KERN_PROTECTION_FAILURE, changing nothing", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P, { prot: Prot.Read, maxProt: Prot.Read });
    const b = t.mmap(s, P, { addr: a + 2 * P, fixed: true, prot: Prot.Read, maxProt: Prot.All });
    expect(t.vm.protect(s, b, P, RW, false)).toBe(KERN_SUCCESS);
    expect(t.vm.protect(s, a, 3 * P, RW, false)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.protect(s, a, P, Prot.None, false)).toBe(KERN_SUCCESS);
    const e = (s as MachSpace).map.entries();
    expect(e.map((x) => x.protection)).toEqual([Prot.None, Prot.Read, RW]);
    t.audit();
  });

  it("setMax lowers the maximum and clips the current protection to it", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    expect(t.vm.protect(s, a, P, Prot.Read, true)).toBe(KERN_SUCCESS);
    const e = (s as MachSpace).map.entries()[0];
    expect(e?.maxProtection).toBe(Prot.Read);
    expect(e?.protection).toBe(Prot.Read);
    expect(t.vm.protect(s, a, P, RW, false)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.protect(s, a, P, Prot.Read | Prot.Exec, true)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.protect(s, a, P, Prot.None, true)).toBe(KERN_SUCCESS);
    expect(t.vm.protect(s, a, P, Prot.Read, false)).toBe(KERN_PROTECTION_FAILURE);
    t.audit();
  });

  it("a hole in the range is KERN_INVALID_ADDRESS and nothing changes (LTP mprotect01)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.mmap(s, P, { addr: a + 2 * P, fixed: true });
    expect(t.vm.protect(s, a, 3 * P, Prot.Read, false)).toBe(KERN_INVALID_ADDRESS);
    for (const e of (s as MachSpace).map.entries()) expect(e.protection).toBe(RW);
    t.audit();
  });

  it("upgrading copy-on-write memory never makes the shared page writable", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    t.store8(p, a, 1);
    const c = t.fork(p);
    expect(t.vm.protect(p, a, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.vm.protect(p, a, P, RW, false)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(p).protOf(a)).toBe(Prot.Read);
    t.store8(p, a, 2);
    expect(t.load8(c, a)).toBe(1);
    t.audit();
  });

  it("a protection change on a shared region applies to this process only", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { shared: true });
    t.store8(p, a, 1);
    const c = t.fork(p);
    t.load8(c, a);
    expect(t.vm.protect(c, a, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.tryStore(c, a, 2)).toBe(KERN_PROTECTION_FAILURE);
    t.store8(p, a, 3);
    expect(t.load8(c, a)).toBe(3);
    t.audit();
  });
});

describe("vm_map_inherit, madvise advice, simplification", () => {
  it("rejects an unknown inheritance (t_minherit minherit_bad)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    expect(t.vm.inherit(s, a, P, 666 as never)).toBe(KERN_INVALID_ARGUMENT);
  });

  it("clips for a partial minherit and merges back when attributes match again", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 1);
    expect(t.vm.inherit(s, a + P, 2 * P, INHERIT_SHARE)).toBe(KERN_SUCCESS);
    expect(entries(s)).toHaveLength(3);
    expect(t.vm.inherit(s, a + P, 2 * P, INHERIT_COPY)).toBe(KERN_SUCCESS);
    expect(entries(s)).toEqual([[a, a + 4 * P]]);
    t.audit();
  });

  it("records advice on the entries", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(t.vm.advise(s, a, P, MADV_RANDOM)).toBe(KERN_SUCCESS);
    expect((s as MachSpace).map.entries().map((e) => e.advice)).toEqual([MADV_RANDOM, 0]);
    expect(t.vm.advise(s, a, P, 99)).toBe(KERN_INVALID_ARGUMENT);
    t.audit();
  });

  it("msync succeeds on mapped anonymous memory and fails on a hole (t_msync msync_err)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    expect(t.vm.sync(s, a, P, 4)).toBe(KERN_SUCCESS);
    t.vm.unmap(s, a, P);
    expect(t.vm.sync(s, a, P, 4)).toBe(KERN_INVALID_ADDRESS);
  });
});
