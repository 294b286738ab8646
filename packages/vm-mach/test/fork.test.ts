import {
  INHERIT_COPY,
  INHERIT_DONATE_COPY,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  KERN_INVALID_ADDRESS,
  KERN_SUCCESS,
  PAGE_SIZE,
  Prot,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function depth(t: TestSystem): number {
  return t.stat("vm.object.shadow_depth.max");
}

describe("vmspace_fork: copy-on-write (VM_INHERIT_COPY)", () => {
  it("gives the child the parent's data, and neither side's later writes leak to the other", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 4 * P);
    t.fillPages(p, a, 4 * P, 1);
    const c = t.fork(p);
    t.audit();
    expect(t.readPages(c, a, 4 * P)).toEqual([1, 1, 1, 1]);
    t.store8(p, a, 2);
    t.store8(c, a + P, 3);
    t.audit();
    expect(t.readPages(p, a, 4 * P)).toEqual([2, 1, 1, 1]);
    expect(t.readPages(c, a, 4 * P)).toEqual([1, 3, 1, 1]);
    expect(t.stat("vm.fault.cow")).toBe(2);
    t.exit(c);
    t.audit();
    expect(t.readPages(p, a, 4 * P)).toEqual([2, 1, 1, 1]);
  });

  it("write-protects the parent's mappings at fork and maps COW read faults read-only", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    t.store8(p, a, 9);
    expect(t.pmapOf(p).protOf(a)).toBe(RW);
    const c = t.fork(p);
    expect(t.pmapOf(p).protOf(a)).toBe(Prot.Read);
    expect(t.load8(c, a)).toBe(9);
    expect(t.pmapOf(c).protOf(a)).toBe(Prot.Read);
    expect(t.pmapOf(c).extract(a)).toBe(t.pmapOf(p).extract(a));
    t.store8(c, a, 10);
    expect(t.pmapOf(c).protOf(a)).toBe(RW);
    expect(t.pmapOf(c).extract(a)).not.toBe(t.pmapOf(p).extract(a));
    t.audit();
  });

  it("untouched memory stays zero in both after fork", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    const c = t.fork(p);
    expect(t.load8(c, a)).toBe(0);
    t.store8(p, a + P, 5);
    expect(t.load8(c, a + P)).toBe(0);
    t.audit();
  });

  it("DONATE_COPY is treated as COPY", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    t.store8(p, a, 4);
    expect(t.vm.inherit(p, a, P, INHERIT_DONATE_COPY)).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    t.store8(c, a, 5);
    expect(t.load8(p, a)).toBe(4);
    expect(t.load8(c, a)).toBe(5);
    t.audit();
  });
});

describe("shadow chains and vm_object_collapse", () => {
  it("a three-generation fork chain keeps every generation's data apart", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 3 * P);
    t.fillPages(p, a, 3 * P, 1);
    const c = t.fork(p);
    t.store8(c, a, 2);
    const g = t.fork(c);
    t.store8(g, a + P, 3);
    t.store8(c, a + 2 * P, 4);
    t.store8(p, a + 2 * P, 5);
    t.audit();
    expect(t.readPages(p, a, 3 * P)).toEqual([1, 1, 5]);
    expect(t.readPages(c, a, 3 * P)).toEqual([2, 1, 4]);
    expect(t.readPages(g, a, 3 * P)).toEqual([2, 3, 1]);
    expect(depth(t)).toBeGreaterThanOrEqual(3);
  });

  it("collapses the parent's chain once the children have exited (shadow depth bounded)", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 4 * P);
    t.fillPages(p, a, 4 * P, 1);
    for (let gen = 0; gen < 6; gen++) {
      const c = t.fork(p);
      const g = t.fork(c);
      t.store8(c, a, 10 + gen);
      t.store8(g, a + P, 20 + gen);
      t.exit(g);
      t.exit(c);
      // The parent's next copy-on-write fault collapses its top object into the lone backing object.
      t.store8(p, a + (gen % 4) * P, 30 + gen);
      t.audit();
      expect(depth(t)).toBeLessThanOrEqual(2);
    }
    expect(t.stat("vm.object.collapse")).toBeGreaterThan(0);
    expect(t.readPages(p, a, 4 * P)).toEqual([34, 35, 32, 33]);
  });

  it("bypasses a backing object still referenced elsewhere when the front object shadows all of it", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 1);
    const c1 = t.fork(p);
    t.fillPages(p, a, 2 * P, 2); // p: S1 over O, with both pages
    const c2 = t.fork(p); // S1 now shared with c2
    t.store8(p, a, 3); // p: S2 over S1; copy of page 0; S1 page 1 not yet shadowed
    t.store8(p, a + P, 4); // now S2 shadows all of S1: bypass S1 (still referenced by c2)
    t.audit();
    expect(t.stat("vm.object.bypass")).toBeGreaterThan(0);
    expect(t.readPages(p, a, 2 * P)).toEqual([3, 4]);
    expect(t.readPages(c1, a, 2 * P)).toEqual([1, 1]);
    expect(t.readPages(c2, a, 2 * P)).toEqual([2, 2]);
    t.audit();
  });

  it("frees every object and page when all processes exit", () => {
    const t = new TestSystem();
    const free0 = t.vm.freePages;
    const p = t.spawn();
    const a = t.mmap(p, 4 * P);
    t.fillPages(p, a, 4 * P, 1);
    const c = t.fork(p);
    const g = t.fork(c);
    t.fillPages(g, a, 4 * P, 2);
    t.fillPages(c, a, 2 * P, 3);
    t.exit(p);
    t.exit(g);
    t.exit(c);
    t.audit();
    expect(t.vm.freePages).toBe(free0);
    expect(t.stat("vm.object.count")).toBe(1); // kernel_object
  });
});

describe("sharing maps: MAP_SHARED and VM_INHERIT_SHARE", () => {
  it("MAP_SHARED memory is shared with the child in both directions", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P, { shared: true });
    t.store8(p, a, 1);
    const c = t.fork(p);
    expect(t.load8(c, a)).toBe(1);
    t.store8(c, a, 2);
    t.store8(c, a + P, 3);
    expect(t.readPages(p, a, 2 * P)).toEqual([2, 3]);
    t.store8(p, a + P, 4);
    expect(t.load8(c, a + P)).toBe(4);
    expect(t.stat("vm.map.sharemap")).toBe(1);
    t.audit();
  });

  it("separate private mappings never share", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    const b = t.mmap(p, P);
    t.store8(p, a, 1);
    t.store8(p, b, 2);
    expect(t.load8(p, a)).toBe(1);
    const q = t.spawn();
    const x = t.mmap(q, P);
    expect(t.load8(q, x)).toBe(0);
    t.audit();
  });

  it("INHERIT_SHARE on private memory shares it; sharing survives a second fork and the first child's exit", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 3 * P);
    t.fillPages(p, a, 3 * P, 1);
    expect(t.vm.inherit(p, a, 3 * P, INHERIT_SHARE)).toBe(KERN_SUCCESS);
    const c1 = t.fork(p);
    const c2 = t.fork(p);
    t.store8(c1, a + P, 7);
    expect(t.load8(c2, a + P)).toBe(7);
    expect(t.load8(p, a + P)).toBe(7);
    t.exit(c1);
    t.store8(c2, a + 2 * P, 8);
    expect(t.load8(p, a + 2 * P)).toBe(8);
    t.audit();
  });

  it("minherit COPY over MAP_SHARED memory makes the child's copy private (NetBSD t_minherit minherit_copy)", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { shared: true });
    t.store8(p, a, 1);
    expect(t.vm.inherit(p, a, P, INHERIT_COPY)).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    t.store8(c, a, 0);
    expect(t.load8(p, a)).toBe(1);
    t.audit();
  });

  it("a COPY fork of shared memory gives a private snapshot, while the sharers still see each other", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P, { shared: true });
    t.fillPages(p, a, 2 * P, 1);
    const s = t.fork(p); // shares with p through the sharing map
    expect(t.vm.inherit(s, a, 2 * P, INHERIT_COPY)).toBe(KERN_SUCCESS);
    const snap = t.fork(s); // copy from the sharing map
    t.audit();
    t.store8(p, a, 2);
    expect(t.load8(s, a)).toBe(2);
    expect(t.load8(snap, a)).toBe(1);
    t.store8(snap, a + P, 3);
    expect(t.load8(p, a + P)).toBe(1);
    expect(t.load8(s, a + P)).toBe(1);
    t.store8(s, a + P, 4);
    expect(t.load8(p, a + P)).toBe(4);
    expect(t.load8(snap, a + P)).toBe(3);
    t.audit();
  });

  it("a partial unmap of a shared region keeps the rest shared", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 3 * P, { shared: true });
    const c = t.fork(p);
    expect(t.vm.unmap(c, a + P, P)).toBe(KERN_SUCCESS);
    t.store8(p, a + 2 * P, 6);
    expect(t.load8(c, a + 2 * P)).toBe(6);
    expect(t.vm.fault(c, a + P, Prot.Read)).toBe(KERN_INVALID_ADDRESS);
    t.audit();
  });
});

describe("INHERIT_NONE and INHERIT_ZERO", () => {
  it("INHERIT_NONE leaves the range unmapped in the child (t_minherit minherit_none)", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { shared: true });
    t.store8(p, a, 1);
    expect(t.vm.inherit(p, a, P, INHERIT_NONE)).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    expect(t.tryStore(c, a, 1)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.isMapped(c, a, P)).toBe(false);
    t.audit();
  });

  it("INHERIT_ZERO gives the child fresh zero-fill memory of the same protection (t_minherit minherit_zero)", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P, { shared: true });
    t.fillPages(p, a, 2 * P, 1);
    expect(t.vm.inherit(p, a, 2 * P, INHERIT_ZERO)).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    expect(t.readPages(c, a, 2 * P)).toEqual([0, 0]);
    t.fillPages(c, a, 2 * P, 2);
    expect(t.readPages(p, a, 2 * P)).toEqual([1, 1]);
    t.audit();
  });

  it("INHERIT_ZERO keeps a read-only protection", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { prot: Prot.Read, inheritance: INHERIT_ZERO });
    const c = t.fork(p);
    expect(t.load8(c, a)).toBe(0);
    expect(t.tryStore(c, a, 1)).not.toBe(KERN_SUCCESS);
    t.audit();
  });
});

describe("wired memory across fork", () => {
  it("locked mappings are not inherited as locked, and the child gets an eager private copy", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 1);
    expect(t.vm.wire(p, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    t.audit();
    expect(t.vm.userWiredPages(c)).toBe(0);
    expect(t.vm.userWiredPages(p)).toBe(2);
    expect(t.stat("vm.fork.copy_wired")).toBe(1);
    // The parent's wired pages stayed writable and in place.
    expect(t.pmapOf(p).protOf(a)).toBe(RW);
    expect(t.readPages(c, a, 2 * P)).toEqual([1, 1]);
    t.store8(p, a, 2);
    t.store8(c, a + P, 3);
    expect(t.readPages(p, a, 2 * P)).toEqual([2, 1]);
    expect(t.readPages(c, a, 2 * P)).toEqual([1, 3]);
    t.audit();
  });

  it("a COPY fork from a sharing map whose pages another sharer wired copies eagerly", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P, { shared: true });
    t.fillPages(p, a, 2 * P, 1);
    const s = t.fork(p);
    expect(t.vm.wire(p, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.inherit(s, a, 2 * P, INHERIT_COPY)).toBe(KERN_SUCCESS);
    const snap = t.fork(s);
    t.audit();
    t.store8(s, a, 5);
    expect(t.load8(p, a)).toBe(5);
    expect(t.load8(snap, a)).toBe(1);
    t.store8(snap, a + P, 6);
    expect(t.load8(p, a + P)).toBe(1);
    t.audit();
  });

  it("mlockall(MCL_FUTURE) is not inherited", () => {
    const t = new TestSystem();
    const p = t.spawn();
    expect(t.vm.wireAll(p, false, true)).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    t.mmap(c, P);
    expect(t.vm.userWiredPages(c)).toBe(0);
    t.mmap(p, P);
    expect(t.vm.userWiredPages(p)).toBe(1);
    t.audit();
  });

  it("the child's map holds no wired entries at all", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P, { shared: true });
    expect(t.vm.wire(p, a, P, "mlock")).toBe(KERN_SUCCESS);
    const c = t.fork(p) as MachSpace;
    for (const e of c.map.entries()) if (!e.system) expect(e.wiredCount).toBe(0);
    t.audit();
  });
});
