import {
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  KernelPanic,
  PAGE_SIZE,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function wiredCounts(t: TestSystem, s: VmSpace): number[] {
  return t.entries(s).map((e) => e.wiredCount);
}

describe("uvm_map_pageable: mlock / munlock", () => {
  it("faults the range in, wires every page and enters it wired", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 3 * P);
    const w0 = t.vm.wiredPages;
    expect(t.vm.wire(s, a, 3 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0 + 3);
    expect(t.vm.userWiredPages(s)).toBe(3);
    expect(t.pmapOf(s).wiredCount).toBe(3);
    expect(t.readPages(s, a, 3 * P)).toEqual([0, 0, 0]);
    t.audit();
    expect(t.vm.unwire(s, a, 3 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0);
    expect(t.pmapOf(s).wiredCount).toBe(0);
    t.audit();
  });

  it("nested mlock counts in wired_count but faults only on the 0→1 edge; one munlock clears it (t_mlock mlock_nested)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    for (let i = 0; i < 100; i++) expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([100]);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(1);
    expect(t.stat("vm.fault.wire")).toBe(1);
    t.audit();
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([0]);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(0);
    t.audit();
  });

  it("nested mlock of overlapping ranges: counts differ per piece, pages wired once, one munlock of the union", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 6 * P);
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, a + 2 * P, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([1, 2, 1]);
    for (let i = 0; i < 6; i++) expect(t.pageAtVa(s, a + i * P)?.wireCount).toBe(1);
    t.audit();
    // Unlocking the first range clears the overlap too (POSIX: a single munlock).
    expect(t.vm.unwire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([0, 1]);
    expect(t.vm.userWiredPages(s)).toBe(2);
    t.audit();
    expect(t.vm.unwire(s, a + 2 * P, 4 * P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.unwire(s, a + 4 * P, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([0]);
    t.audit();
  });

  it("munlock of never-locked memory is KERN_INVALID_ARGUMENT and changes nothing (t_mlock munlock_unlocked)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.userWiredPages(s)).toBe(1);
    t.audit();
  });

  it("a hole is KERN_INVALID_ADDRESS for mlock and munlock, and nothing changes", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 3 * P);
    t.vm.unmap(s, a + P, P);
    expect(t.vm.wire(s, a, 3 * P, "mlock")).toBe(KERN_INVALID_ADDRESS);
    expect(wiredCounts(t, s)).toEqual([0, 0]);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 3 * P, "mlock")).toBe(KERN_INVALID_ADDRESS);
    expect(wiredCounts(t, s)).toEqual([1, 0]);
    t.audit();
  });

  it("mlock then munmap: the falling edge runs in uvm_unmap, and munlock afterwards fails (t_mlock mlock_mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const w0 = t.vm.wiredPages;
    const a = t.mmap(s, 4 * P);
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unmap(s, a + P, 2 * P)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0 + 2);
    expect(t.vm.unwire(s, a + P, P, "mlock")).toBe(KERN_INVALID_ADDRESS);
    t.audit();
    t.exit(s);
    expect(t.vm.wiredPages).toBe(0);
    t.audit();
  });

  it("mlock of a MAP_WIRED mapping: 1 → 2, one munlock → 0, munmap, then munlock fails (t_mlock mlock_mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { wired: true });
    expect(wiredCounts(t, s)).toEqual([1]);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([2]);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(1);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([0]);
    expect(t.vm.unmap(s, a, P)).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_INVALID_ADDRESS);
    t.audit();
  });

  it("PROT_NONE cannot be wired; MAP_WIRED of PROT_NONE maps unwired (t_mlock mlock_mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { prot: Prot.None, wired: true });
    expect(t.vm.userWiredPages(s)).toBe(0);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_PROTECTION_FAILURE);
    t.audit();
  });

  it("clipping for partial ranges (t_mlock mlock_clip, PR kern/44788): entries merge back when counts match", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const n = 8;
    const a = t.mmap(s, n * P);
    for (let i = 1; i <= n; i++) {
      expect(t.vm.wire(s, a, i * P, "mlock")).toBe(KERN_SUCCESS);
      t.audit();
      expect(t.vm.unwire(s, a, i * P, "mlock")).toBe(KERN_SUCCESS);
      t.audit();
    }
    expect(wiredCounts(t, s)).toEqual([0]);
  });

  it("a wired region set to PROT_NONE keeps its pages wired (layers, not pmap_extract) and refaults wired", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 4);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.protect(s, a, P, Prot.None, false)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    t.audit();
    expect(t.vm.protect(s, a, P, RW, false)).toBe(KERN_SUCCESS);
    expect(t.load8(s, a)).toBe(4);
    expect(t.pmapOf(s).maps.get(a)?.wired).toBe(true);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(1);
    t.audit();
    expect(t.vm.protect(s, a, P, Prot.None, false)).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("wiring read-only copy-on-write memory resolves the copy now (max_protection), so the page never moves", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 1);
    const c = t.fork(p);
    expect(t.vm.protect(c, a, 2 * P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.vm.wire(c, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.pmapOf(c).protOf(a)).toBe(Prot.Read);
    t.audit();
    t.store8(p, a, 2);
    expect(t.readPages(c, a, 2 * P)).toEqual([1, 1]);
    expect(t.vm.protect(c, a, 2 * P, RW, false)).toBe(KERN_SUCCESS);
    t.store8(c, a + P, 3);
    expect(t.readPages(p, a, 2 * P)).toEqual([2, 1]);
    t.audit();
    expect(t.vm.unwire(c, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("fork of a wired entry copies its anons for the child now (amap_cow_now); the child is not wired", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 7);
    expect(t.vm.wire(p, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    expect(t.stat("vm.fork.cow_now")).toBe(2);
    expect(t.vm.userWiredPages(c)).toBe(0);
    expect(t.readPages(c, a, 2 * P)).toEqual([7, 7]);
    t.store8(p, a, 8);
    t.store8(c, a + P, 9);
    expect(t.readPages(p, a, 2 * P)).toEqual([8, 7]);
    expect(t.readPages(c, a, 2 * P)).toEqual([7, 9]);
    t.audit();
  });

  it("shared memory wired by two processes: two wirings on its pages", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { shared: true });
    const c = t.fork(p);
    expect(t.vm.wire(p, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(c, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(p, a)?.wireCount).toBe(2);
    t.audit();
    t.exit(p);
    expect(t.pageAtVa(c, a)?.wireCount).toBe(1);
    t.audit();
    t.exit(c);
    t.audit();
  });

  it("a wiring that runs out of memory undoes itself", () => {
    const t = new TestSystem({ pages: 80, swapSlots: 0 });
    const s = t.spawn();
    const a = t.mmap(s, 100 * P);
    const w0 = t.vm.wiredPages;
    expect(t.vm.wire(s, a, 100 * P, "mlock")).toBe(KERN_RESOURCE_SHORTAGE);
    expect(t.vm.wiredPages).toBe(w0);
    expect(t.pmapOf(s).wiredCount).toBe(0);
    expect(wiredCounts(t, s).every((c) => c === 0)).toBe(true);
    t.audit();
  });

  it("the wire-count underflow assertion fires with NetBSD's text", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 1);
    const pg = t.pageAtVa(s, a);
    expect(() => t.vm.pages.unwire(pg as never)).toThrow(KernelPanic);
    expect(t.kernel.panicked).toMatch(/^panic: kernel diagnostic assertion "pg->wire_count != 0" failed/);
  });
});

describe("uvm_vslock / uvm_vsunlock: transient wiring", () => {
  it("wires pages and PTEs without touching wired_count, and nests with mlock", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(t.vm.wire(s, a, 2 * P, "transient", Prot.Write)).toBe(KERN_SUCCESS);
    expect(wiredCounts(t, s)).toEqual([0]);
    expect(t.vm.userWiredPages(s)).toBe(0);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(1);
    expect(t.pmapOf(s).wiredCount).toBe(2);
    t.audit();
    expect(t.vm.wire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(2);
    // munlock must not unwire the buffer a transfer is using.
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(1);
    expect(t.pmapOf(s).wiredCount).toBe(2);
    t.audit();
    expect(t.vm.unwire(s, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(0);
    expect(t.pmapOf(s).wiredCount).toBe(0);
    t.audit();
  });

  it("mlock + read() into the locked buffer + munlock: the transfer's wiring and the lock are independent", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(t.vm.wire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    // read(2): vslock with Write, copy, vsunlock.
    expect(t.vm.wire(s, a, 2 * P, "transient", Prot.Write)).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(2);
    t.pmap.write8(t.pmapOf(s).extract(a) as number, 0x42);
    expect(t.vm.unwire(s, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(1);
    expect(t.pmapOf(s).maps.get(a)?.wired).toBe(true);
    t.audit();
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(s, a)?.wireCount).toBe(0);
    expect(t.load8(s, a)).toBe(0x42);
    t.audit();
  });

  it("read() into a copy-on-write buffer resolves the copy first (access Write)", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    t.store8(p, a, 1);
    const c = t.fork(p);
    expect(t.vm.wire(c, a, P, "transient", Prot.Write)).toBe(KERN_SUCCESS);
    expect(t.pageAtVa(c, a)).not.toBe(t.pageAtVa(p, a));
    t.pmap.write8(t.pmapOf(c).extract(a) as number, 5);
    expect(t.vm.unwire(c, a, P, "transient")).toBe(KERN_SUCCESS);
    expect(t.load8(p, a)).toBe(1);
    expect(t.load8(c, a)).toBe(5);
    t.audit();
  });

  it("a read-only buffer cannot be vslock'ed for Write; vsunlock of what was not locked is refused", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { prot: Prot.Read });
    expect(t.vm.wire(s, a, P, "transient", Prot.Write)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.wire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    t.audit();
  });
});

describe("uvm_map_pageable_all: mlockall / munlockall", () => {
  it("MCL_CURRENT wires every entry but PROT_NONE ones", () => {
    const t = new TestSystem();
    const s = t.spawn();
    t.mmap(s, 2 * P);
    t.mmap(s, P, { prot: Prot.None });
    expect(t.vm.wireAll(s, true, false)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(2);
    t.audit();
    expect(t.vm.unwireAll(s)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(0);
    t.audit();
  });

  it("MCL_FUTURE wires later mappings, and an mprotect out of PROT_NONE (regress uvm mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    t.mmap(s, 4 * P);
    expect(t.vm.wireAll(s, true, true)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(4);
    t.mmap(s, 4 * P, { prot: Prot.Read });
    expect(t.vm.userWiredPages(s)).toBe(8);
    const a3 = t.mmap(s, 4 * P, { prot: Prot.None });
    expect(t.vm.userWiredPages(s)).toBe(8);
    expect(t.vm.protect(s, a3, 4 * P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(12);
    t.audit();
    expect(t.vm.unwireAll(s)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(0);
    t.mmap(s, P);
    expect(t.vm.userWiredPages(s)).toBe(0);
    t.audit();
  });

  it("a failing MCL_CURRENT undoes what it wired", () => {
    const t = new TestSystem({ pages: 80, swapSlots: 0 });
    const s = t.spawn();
    t.mmap(s, 4 * P);
    t.mmap(s, 200 * P, { addr: 0x1000_0000 });
    expect(t.vm.wireAll(s, true, false)).toBe(KERN_RESOURCE_SHORTAGE);
    expect(t.vm.userWiredPages(s)).toBe(0);
    expect(t.pmapOf(s).wiredCount).toBe(0);
    t.audit();
  });
});
