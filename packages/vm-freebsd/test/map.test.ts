/**
 * vm_map, vm_fault, wiring and fork through the testkit harness: the KERN_* answers the kernel
 * maps to errno, and the invariants after each step (the same edge cases as the Mach VM's tests).
 */
import {
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  MADV_DONTNEED,
  MADV_FREE,
  PAGE_SIZE,
  Prot,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("vm_map", () => {
  it("keeps the splay tree and the entry list in step through clips, merges and deletes", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 64 * P);
    for (let i = 0; i < 64; i += 3) expect(t.vm.protect(s, a + i * P, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    t.audit();
    for (let i = 0; i < 64; i += 5) expect(t.vm.unmap(s, a + i * P, 2 * P)).toBe(KERN_SUCCESS);
    t.audit();
    expect(t.vm.protect(s, a, 64 * P, Prot.Read | Prot.Write, false)).toBe(KERN_INVALID_ADDRESS);
    t.exit(s);
    t.audit();
  });

  it("answers like the Mach VM: holes, protections above max, bad inheritance", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P, { maxProt: Prot.Read | Prot.Write });
    expect(t.vm.protect(s, a, 4 * P, Prot.All, false)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.protect(s, a, 8 * P, Prot.Read, false)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.inherit(s, a, P, 9 as never)).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.unmap(s, a + 16 * P, P)).toBe(KERN_SUCCESS);
    expect(t.tryStore(s, a + 16 * P, 1)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.protect(s, a, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.tryStore(s, a, 1)).toBe(KERN_PROTECTION_FAILURE);
    t.audit();
  });

  it("wiring: user wiring does not nest, system wiring counts, the two are kept apart", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(4);
    t.audit();
    expect(t.vm.unwire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 4 * P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.userWiredPages(s)).toBe(0);
    // The transient wiring still holds the first two pages.
    const pa = t.pmapOf(s).extract(a) as number;
    expect(t.vm.pages.pageOf(pa)?.wireCount).toBe(1);
    t.audit();
    expect(t.vm.unwire(s, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 2 * P, "transient")).toBe(KERN_INVALID_ARGUMENT);
    const none = t.mmap(s, P, { prot: Prot.None });
    expect(t.vm.wire(s, none, P, "mlock")).toBe(KERN_PROTECTION_FAILURE);
    t.audit();
  });

  it("fork: copy, share, none and zero inheritance; a wired region is copied at once", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const cp = t.mmap(s, 2 * P);
    const sh = t.mmap(s, 2 * P, { shared: true });
    const no = t.mmap(s, P);
    const zr = t.mmap(s, P);
    const wd = t.mmap(s, P);
    t.fillPages(s, cp, 2 * P, 1);
    t.fillPages(s, sh, 2 * P, 2);
    t.store8(s, no, 3);
    t.store8(s, zr, 4);
    t.store8(s, wd, 5);
    expect(t.vm.inherit(s, no, P, INHERIT_NONE)).toBe(KERN_SUCCESS);
    expect(t.vm.inherit(s, zr, P, INHERIT_ZERO)).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, wd, P, "mlock")).toBe(KERN_SUCCESS);
    const c = t.fork(s);
    t.audit();
    expect(t.readPages(c, cp, 2 * P)).toEqual([1, 1]);
    expect(t.tryLoad(c, no)).toBe(KERN_INVALID_ADDRESS);
    expect(t.load8(c, zr)).toBe(0);
    expect(t.load8(c, wd)).toBe(5);
    expect(t.stat("vm.fork.copy_wired")).toBeGreaterThan(0);
    t.store8(c, sh, 20);
    expect(t.load8(s, sh)).toBe(20);
    t.store8(c, cp, 10);
    t.store8(s, cp + P, 11);
    expect([t.load8(s, cp), t.load8(c, cp + P)]).toEqual([1, 1]);
    t.store8(s, wd, 6);
    expect(t.load8(c, wd)).toBe(5);
    t.audit();
    // A shared region inherited by copy in a grandchild: the sharers keep sharing.
    expect(t.vm.inherit(s, sh, 2 * P, 1 as never)).toBe(KERN_SUCCESS);
    const g = t.fork(s);
    t.store8(s, sh + P, 30);
    expect(t.load8(c, sh + P)).toBe(30);
    t.store8(g, sh + P, 31);
    expect(t.load8(s, sh + P)).toBe(30);
    t.audit();
    void INHERIT_SHARE;
    t.exit(g);
    t.exit(c);
    t.audit();
  });

  it("copy-on-write chains collapse as processes exit; the last writer takes the page without copying", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 1);
    for (let i = 0; i < 4; i++) {
      const c = t.fork(s);
      t.store8(c, a, 2);
      t.store8(s, a + P, 3);
      t.exit(c);
      t.audit();
    }
    expect(
      t.vm.objects.chainLength(t.vm.spaces.values().next().value?.map.lookupEntry(a).object as never),
    ).toBeLessThanOrEqual(2);
    expect(t.stat("vm.object.collapse") + t.stat("vm.fault.cow_optim")).toBeGreaterThan(0);
    expect(t.readPages(s, a, 4 * P)).toEqual([1, 3, 1, 1]);
    t.audit();
  });

  it("madvise: DONTNEED keeps the data, FREE lets the daemon discard private pages", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 7);
    expect(t.vm.advise(s, a, 4 * P, MADV_DONTNEED)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.readPages(s, a, 4 * P)).toEqual([7, 7, 7, 7]);
    expect(t.vm.advise(s, a, 4 * P, MADV_FREE)).toBe(KERN_SUCCESS);
    t.audit();
    expect(t.vm.advise(s, a, 4 * P, 99)).toBe(KERN_INVALID_ARGUMENT);
  });

  it("kmem_alloc: wired, zeroed, entered wired; kmem_free gives everything back", () => {
    const t = new TestSystem({ pdir: false });
    const free0 = t.vm.freePages;
    const va = t.vm.kmemAlloc(3 * P - 100);
    expect(va % P).toBe(0);
    expect(t.vm.wiredPages).toBe(3);
    for (let i = 0; i < 3; i++) {
      const m = t.pmap.kernelPmap.maps.get(va + i * P);
      expect(m?.wired).toBe(true);
      expect(t.pmap.read8((m?.pg.pa ?? 0) + 5)).toBe(0);
    }
    t.audit();
    t.vm.kmemFree(va, 3 * P - 100);
    expect(t.vm.freePages).toBe(free0);
    expect(t.vm.wiredPages).toBe(0);
    t.audit();
    const small = new TestSystem({ pages: 200, pdir: false });
    expect(small.vm.kmemAlloc(400 * P)).toBe(0);
    small.audit();
  });
});
