/** vm_reserv: superpage reservations for objects, popcounts, the partially-populated queue. */
import { KERN_SUCCESS, PAGE_SIZE, SIZE_2M } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { VmObject } from "../src/vm_object.js";
import { LAYOUT_4M, RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function objectAt(t: TestSystem, s: Parameters<TestSystem["pmapOf"]>[0], va: number): VmObject {
  const map = t.vm.spaces.values().next().value?.map;
  const e = map?.lookupEntry(va);
  if (!e?.object) throw new Error(`no object at ${va}`);
  void s;
  return e.object;
}

describe("vm_reserv", () => {
  it("a large anonymous mapping is superpage aligned; touching it fills one reservation", () => {
    const t = new TestSystem({ pages: 4096 });
    const s = t.spawn();
    const a = t.mmap(s, 2 * SIZE_2M);
    expect(a % SIZE_2M).toBe(0);
    const alloc0 = t.stat("vm.reserv.alloc");
    t.store8(s, a + 5 * P, 1);
    expect(t.stat("vm.reserv.alloc")).toBe(alloc0 + 1);
    const r = t.vm.pages.reserv;
    const pa0 = t.pmapOf(s).extract(a + 5 * P) as number;
    expect(pa0 % SIZE_2M).toBe(5 * P);
    const partial0 = r.partpopq.size;
    expect(partial0).toBeGreaterThan(0);
    t.audit();
    for (let off = 0; off < SIZE_2M; off += P) t.store8(s, a + off, 2);
    // Every page came from the same superpage, in order: physically contiguous and aligned.
    for (let off = 0; off < SIZE_2M; off += P) expect(t.pmapOf(s).extract(a + off)).toBe(pa0 - 5 * P + off);
    expect(r.partpopq.size).toBe(partial0 - 1);
    const pg = t.vm.pageOf(pa0);
    expect(t.vm.reservLevelIfFullPop(pg as NonNullable<typeof pg>)).toBe(0);
    expect(t.stat("vm.reserv.alloc")).toBe(alloc0 + 1);
    t.audit();
    // One page freed: no longer full, back on the queue.
    t.vm.unmap(s, a + 7 * P, P);
    expect(t.vm.reservLevelIfFullPop(pg as NonNullable<typeof pg>)).toBe(-1);
    expect(r.partpopq.size).toBe(partial0);
    t.audit();
    // Unmapping the rest returns the whole superpage to vm_phys in one piece.
    const free0 = t.vm.freePages;
    t.vm.unmap(s, a, 2 * SIZE_2M);
    expect(t.stat("vm.reserv.freed")).toBe(1);
    expect(t.vm.freePages).toBe(free0 + 511);
    expect(r.partpopq.size).toBe(partial0 - 1);
    t.audit();
  });

  it("4 MiB reservations on a non-PAE layout", () => {
    const t = new TestSystem({ pages: 4096, layout: LAYOUT_4M });
    const s = t.spawn();
    const a = t.mmap(s, 0x40_0000);
    expect(a % 0x40_0000).toBe(0);
    t.fillPages(s, a, 0x40_0000, 3);
    const pa = t.pmapOf(s).extract(a) as number;
    expect(pa % 0x40_0000).toBe(0);
    const pg = t.vm.pageOf(pa);
    expect(t.vm.reservLevelIfFullPop(pg as NonNullable<typeof pg>)).toBe(0);
    t.audit();
  });

  it("reservations follow pg_color: object pindexes line up with the superpage frames of their addresses", () => {
    const t = new TestSystem({ pages: 4096 });
    const s = t.spawn();
    // 32 pages straddling a 2 MiB boundary: pindex 16 is the first page of a superpage.
    const a = t.mmap(s, 32 * P, { addr: SIZE_2M - 16 * P, fixed: true });
    t.store8(s, a + 16 * P, 1);
    const obj = objectAt(t, s, a);
    expect(obj.pgColor).toBe(512 - 16);
    const pa = t.pmapOf(s).extract(a + 16 * P) as number;
    expect(pa % SIZE_2M).toBe(0);
    expect(t.pmapOf(s).extract(a + 17 * P) ?? 0).toBe(0);
    t.store8(s, a + 17 * P, 1);
    expect(t.pmapOf(s).extract(a + 17 * P)).toBe(pa + P);
    // A reservation may not start before pindex 0: the pages below the boundary come from vm_phys.
    const alloc0 = t.stat("vm.reserv.alloc");
    t.store8(s, a, 1);
    expect(t.stat("vm.reserv.alloc")).toBe(alloc0);
    t.audit();
  });

  it("a shortage breaks the least recently changed partial reservation", () => {
    const t = new TestSystem({ pages: 1100, swapSlots: 0 });
    const s = t.spawn();
    const r = t.vm.pages.reserv;
    // Reserve superpages by touching one page in each 2 MiB region.
    const a = t.mmap(s, 8 * SIZE_2M);
    let made = 0;
    for (let i = 0; i < 8; i++) {
      try {
        t.store8(s, a + i * SIZE_2M, i);
        made++;
      } catch {
        break;
      }
    }
    expect(made).toBeGreaterThan(0);
    expect(r.partpopq.size).toBeGreaterThan(0);
    // Now drain vm_phys: the next allocations must break reservations to get pages.
    const held = [];
    for (;;) {
      const pg = t.vm.allocPage({ interrupt: true });
      if (!pg) break;
      held.push(pg);
    }
    expect(t.stat("vm.reserv.reclaimed")).toBeGreaterThan(0);
    expect(t.stat("vm.reserv.broken")).toBeGreaterThan(0);
    t.audit();
    for (const pg of held) t.vm.freePage(pg);
    t.audit();
    // The data survived the breaking.
    for (let i = 0; i < made; i++) expect(t.load8(s, a + i * SIZE_2M)).toBe(i);
  });

  it("kmem_malloc takes its pages from kmem_object's reservations", () => {
    const t = new TestSystem({ pages: 4096, pdir: false });
    const va = t.vm.kmemAlloc(SIZE_2M);
    expect(va).not.toBe(0);
    const kp = t.pmap.kernelPmap;
    const first = kp.maps.get(va)?.pg;
    expect(first).toBeDefined();
    const pa0 = (first as NonNullable<typeof first>).pa;
    for (let i = 0; i < 16; i++) expect(kp.maps.get(va + i * P)?.pg.pa).toBe(pa0 + i * P);
    expect(t.stat("vm.reserv.alloc")).toBeGreaterThan(0);
    t.audit();
    t.vm.kmemFree(va, SIZE_2M);
    expect(kp.maps.size).toBe(0);
    t.audit();
  });

  it("the audit catches a popcount that disagrees with the pages allocated", () => {
    const t = new TestSystem({ pages: 4096 });
    const s = t.spawn();
    const a = t.mmap(s, SIZE_2M);
    t.store8(s, a, 1);
    const rv = [...t.vm.pages.reserv.array.values()].find((x) => x.object !== null);
    if (!rv) throw new Error("no reservation");
    rv.popcnt++;
    expect(() => t.audit()).toThrow(/reservation popcnt/);
    rv.popcnt--;
    t.audit();
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    t.audit();
    void RW;
  });
});
