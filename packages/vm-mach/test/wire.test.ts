import {
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  PAGE_SIZE,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function wiredCounts(s: VmSpace): number[] {
  return (s as MachSpace).map
    .entries()
    .filter((e) => !e.system)
    .map((e) => e.wiredCount);
}

describe("mlock / munlock (user wiring)", () => {
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

  it("locks do not nest: 100 mlocks, one munlock (NetBSD t_mlock mlock_nested)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    for (let i = 0; i < 100; i++) expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([1]);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([0]);
    expect(t.vm.wiredPages).toBe(1); // the fake pmap's page directory (kmem)
    t.audit();
  });

  it("munlock of never-locked memory is KERN_INVALID_ARGUMENT (NetBSD t_mlock 1.8)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    // One entry of the range is not locked: nothing changes.
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
    expect(wiredCounts(s)).toEqual([0, 0]);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 3 * P, "mlock")).toBe(KERN_INVALID_ADDRESS);
    expect(wiredCounts(s)).toEqual([1, 0]);
    t.audit();
  });

  it("munlock after munmap fails (t_mlock mlock_mmap; regress uvm mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { wired: true });
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unmap(s, a, P)).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_INVALID_ADDRESS);
    t.audit();
  });

  it("wiring PROT_NONE is KERN_PROTECTION_FAILURE; MAP_WIRED of PROT_NONE still maps (t_mlock mlock_mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { prot: Prot.None, wired: true });
    expect(t.vm.userWiredPages(s)).toBe(0);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_PROTECTION_FAILURE);
    const b = t.mmap(s, 2 * P);
    expect(t.vm.protect(s, b + P, P, Prot.None, false)).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, b, 2 * P, "mlock")).toBe(KERN_PROTECTION_FAILURE);
    expect(wiredCounts(s)).toEqual([0, 0, 0]);
    t.audit();
  });

  it("MAP_WIRED is a user wiring: mlock succeeds on it and one munlock undoes both", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P, { wired: true });
    expect(t.vm.userWiredPages(s)).toBe(2);
    expect(t.vm.wire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(0);
    t.audit();
  });

  it("clips entries for partial mlock/munlock ranges (t_mlock mlock_clip)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const n = 8;
    const a = t.mmap(s, n * P);
    for (let i = n; i >= 1; i--) {
      expect(t.vm.wire(s, a, (n - i + 1) * P, "mlock")).toBe(KERN_SUCCESS);
      t.audit();
      expect(t.vm.unwire(s, a, (n - i + 1) * P, "mlock")).toBe(KERN_SUCCESS);
      t.audit();
      expect(wiredCounts(s).every((c) => c === 0)).toBe(true);
    }
    expect(t.vm.wire(s, a + 3 * P, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([0, 1, 0]);
    expect(t.vm.unwire(s, a + 3 * P, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([0]);
    t.audit();
  });

  it("munmap of a wired region unwires it", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const w0 = t.vm.wiredPages;
    const a = t.mmap(s, 4 * P);
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unmap(s, a + P, 2 * P)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0 + 2);
    expect(t.vm.userWiredPages(s)).toBe(2);
    t.exit(s);
    expect(t.vm.wiredPages).toBe(0);
    t.audit();
  });

  it("wiring read-only copy-on-write memory copies the pages up, so later writes elsewhere cannot move them", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 1);
    const c = t.fork(p);
    expect(t.vm.protect(c, a, 2 * P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.vm.wire(c, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    t.audit();
    t.store8(p, a, 2);
    expect(t.readPages(c, a, 2 * P)).toEqual([1, 1]);
    expect(t.vm.protect(c, a, 2 * P, RW, false)).toBe(KERN_SUCCESS);
    t.store8(c, a + P, 3);
    expect(t.readPages(p, a, 2 * P)).toEqual([2, 1]);
    expect(t.vm.unwire(c, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("a wired region set to PROT_NONE and back keeps its wiring and refaults wired", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 4);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.protect(s, a, P, Prot.None, false)).toBe(KERN_SUCCESS);
    t.audit();
    expect(t.vm.protect(s, a, P, RW, false)).toBe(KERN_SUCCESS);
    expect(t.load8(s, a)).toBe(4);
    expect(t.pmapOf(s).maps.get(a)?.wired).toBe(true);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("shared memory wired by two processes counts two wirings on its pages", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { shared: true });
    const c = t.fork(p);
    expect(t.vm.wire(p, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(c, a, P, "mlock")).toBe(KERN_SUCCESS);
    const pa = t.pmapOf(p).extract(a) as number;
    expect(t.vm.pages.pageOf(pa)?.wireCount).toBe(2);
    t.audit();
    t.exit(p);
    expect(t.vm.pages.pageOf(pa)?.wireCount).toBe(1);
    t.audit();
    t.exit(c);
    t.audit();
  });

  it("a wiring that runs out of memory undoes itself", () => {
    const t = new TestSystem({ pages: 80 });
    const s = t.spawn();
    const a = t.mmap(s, 100 * P);
    const w0 = t.vm.wiredPages;
    expect(t.vm.wire(s, a, 100 * P, "mlock")).toBe(KERN_RESOURCE_SHORTAGE);
    expect(t.vm.wiredPages).toBe(w0);
    expect(wiredCounts(s)).toEqual([0]);
    t.audit();
  });
});

describe("system and transient wiring (counted)", () => {
  it("nests, and unwire below zero is KERN_INVALID_ARGUMENT", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    expect(t.vm.wire(s, a, P, "system")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([2]);
    expect(t.vm.userWiredPages(s)).toBe(0);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "system")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "system")).toBe(KERN_INVALID_ARGUMENT);
    t.audit();
  });

  it("munlock does not undo a system wiring, and a system unwire does not undo mlock", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "system")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.wire(s, a, P, "system")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([1]);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.unwire(s, a, P, "system")).toBe(KERN_SUCCESS);
    expect(wiredCounts(s)).toEqual([0]);
    t.audit();
  });
});

describe("mlockall / munlockall", () => {
  it("MCL_CURRENT wires every entry but PROT_NONE ones", () => {
    const t = new TestSystem();
    const s = t.spawn();
    t.mmap(s, 2 * P);
    t.mmap(s, P, { prot: Prot.None });
    expect(t.vm.wireAll(s, true, false)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(2);
    expect(t.vm.unwireAll(s)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(0);
    t.audit();
  });

  it("MCL_FUTURE wires later mappings at map time, and an mprotect out of PROT_NONE (regress uvm mmap)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a1 = t.mmap(s, 4 * P);
    expect(t.vm.wireAll(s, true, true)).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(4);
    const a2 = t.mmap(s, 4 * P, { prot: Prot.Read });
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
    void a1;
    void a2;
    t.audit();
  });

  it("a failing MCL_CURRENT undoes what it wired", () => {
    const t = new TestSystem({ pages: 80 });
    const s = t.spawn();
    t.mmap(s, 4 * P);
    t.mmap(s, 200 * P, { addr: 0x1000_0000 });
    expect(t.vm.wireAll(s, true, false)).toBe(KERN_RESOURCE_SHORTAGE);
    expect(t.vm.userWiredPages(s)).toBe(0);
    t.audit();
  });
});
