import { KernelPanic, PAGE_SIZE, Prot } from "@vmlab/core";
import { FLAT_LAYOUT } from "@vmlab/testkit";
import { describe, expect, it } from "vitest";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("kmem_alloc / kmem_free", () => {
  it("allocates wired, zeroed pages in kernel_object, entered wired in the kernel pmap", () => {
    const t = new TestSystem({ pdir: false });
    const free0 = t.vm.freePages;
    const va = t.vm.kmemAlloc(3 * P - 100);
    expect(va).toBeGreaterThanOrEqual(FLAT_LAYOUT.kernelMin);
    expect(va % P).toBe(0);
    expect(t.vm.freePages).toBe(free0 - 3);
    expect(t.vm.wiredPages).toBe(3);
    const kp = t.pmap.kernelPmap;
    for (let i = 0; i < 3; i++) {
      const m = kp.maps.get(va + i * P);
      expect(m?.wired).toBe(true);
      expect(m?.prot).toBe(Prot.Read | Prot.Write);
      expect(t.pmap.read8((m?.pg.pa ?? 0) + 123)).toBe(0);
      expect(t.vm.pages.pageOf(m?.pg.pa ?? 0)?.object).toBe(t.vm.kernelMap.object);
    }
    expect(t.pmap.growKernelCalls.at(-1)).toBe(va + 3 * P);
    t.audit();
    t.vm.kmemFree(va, 3 * P - 100);
    expect(t.vm.freePages).toBe(free0);
    expect(t.vm.wiredPages).toBe(0);
    expect(kp.maps.size).toBe(0);
    t.audit();
  });

  it("frees part of a run of allocations that merged into one entry", () => {
    const t = new TestSystem({ pdir: false });
    const a = t.vm.kmemAlloc(P);
    const b = t.vm.kmemAlloc(P);
    const c = t.vm.kmemAlloc(P);
    expect(b).toBe(a + P);
    expect(c).toBe(b + P);
    expect(t.vm.kernelMap.map.nentries).toBe(1);
    t.vm.kmemFree(b, P);
    expect(t.vm.kernelMap.map.nentries).toBe(2);
    expect(t.vm.wiredPages).toBe(2);
    t.audit();
    expect(t.vm.kmemAlloc(P)).toBe(b);
    t.audit();
  });

  it("returns 0 when memory runs out, leaving nothing behind", () => {
    const t = new TestSystem({ pages: 40, pdir: false });
    const free0 = t.vm.freePages;
    expect(t.vm.kmemAlloc((free0 + 1) * P)).toBe(0);
    expect(t.vm.freePages).toBe(free0);
    expect(t.vm.kernelMap.map.nentries).toBe(0);
    t.audit();
  });

  it("returns 0 when kernel_map is full", () => {
    const t = new TestSystem({ pdir: false });
    const size = FLAT_LAYOUT.kernelMax - FLAT_LAYOUT.kernelMin;
    expect(t.vm.kvaAlloc(size + P)).toBe(0);
    expect(t.vm.kvaAlloc(size)).toBe(FLAT_LAYOUT.kernelMin);
    expect(t.vm.kmemAlloc(P)).toBe(0);
    t.audit();
  });
});

describe("kva_alloc / kva_free (address space without pages)", () => {
  it("hands out disjoint ranges and takes them back", () => {
    const t = new TestSystem({ pdir: false });
    const free0 = t.vm.freePages;
    const a = t.vm.kvaAlloc(4 * P);
    const k = t.vm.kmemAlloc(P);
    const b = t.vm.kvaAlloc(2 * P);
    expect(k).toBe(a + 4 * P);
    expect(b).toBe(k + P);
    expect(t.vm.freePages).toBe(free0 - 1);
    t.vm.kvaFree(a, 4 * P);
    expect(t.vm.kvaAlloc(3 * P)).toBe(a);
    t.audit();
  });
});

describe("pages for the pmap (PmapHost)", () => {
  it("allocPage gives zeroed pages on request, outside any object and queue; freePage takes them back", () => {
    const t = new TestSystem();
    const free0 = t.vm.freePages;
    const pg = t.vm.allocPage({ zero: true });
    expect(pg).not.toBeNull();
    expect(t.pmap.read8(pg?.pa ?? 0)).toBe(0);
    expect(t.vm.freePages).toBe(free0 - 1);
    t.audit();
    if (pg) {
      pg.wireCount = 3; // a pmap may use it as its own count (FreeBSD PTP use counts)
      t.vm.freePage(pg);
    }
    expect(t.vm.freePages).toBe(free0);
    t.audit();
  });

  it("freeing a page that is not the pmap's panics", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 1);
    const pg = t.vm.pageOf(t.pmapOf(s).extract(a) ?? 0);
    expect(() => pg && t.vm.freePage(pg)).toThrow(KernelPanic);
  });

  it("pageOf maps frames of every segment and skips stolen frames", () => {
    const t = new TestSystem({ pages: 300 });
    expect(t.vm.pageOf(0)).toBeUndefined();
    expect(t.vm.pageOf(3 * P)).toBeUndefined();
    expect(t.vm.pageOf(4 * P)?.pa).toBe(4 * P);
    expect(t.vm.pageOf(0xa0000)).toBeUndefined();
    expect(t.vm.pageOf(0x10_0000 + 5 * P + 12)?.pa).toBe(0x10_0000 + 5 * P);
    expect(t.vm.pages.pages).toHaveLength(296);
    expect(t.vm.freePages).toBe(296);
    for (const pg of t.vm.pages.pages) expect(t.vm.pageOf(pg.pa)).toBe(pg);
  });
});
