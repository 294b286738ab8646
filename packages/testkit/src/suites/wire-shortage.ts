/**
 * A VM layer under memory shortage (decision 0011), the same for every VM layer: a wiring (mlock,
 * mlockall, MAP_WIRED or MCL_FUTURE mmap, mprotect out of PROT_NONE under MCL_FUTURE) that finds no
 * memory and nothing to page out answers KERN_RESOURCE_SHORTAGE and unwinds exactly what it wired;
 * vmspace_fork whose copies of wired memory cannot get memory even by waiting answers null and
 * leaves nothing behind; and MCL_FUTURE does not wire a SysV attach (NetBSD shmat maps with
 * uvm_map alone). Each VM package calls `describeWireShortage` from its tests with its harness.
 */
import {
  INHERIT_COPY,
  INHERIT_SHARE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  type MapRequest,
  PAGE_SIZE,
  Prot,
  type VmLayer,
  type VmSpace,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { TestSystem, TestSystemOptions } from "../harness.js";
import { RW } from "../harness.js";

const P = PAGE_SIZE;
/** Far apart so the entries never merge with anything else. */
const A = 0x1000_0000;

function req(addr: number, len: number, r: Partial<MapRequest> = {}): MapRequest {
  return {
    addr,
    len,
    prot: RW,
    maxProt: Prot.All,
    fixed: true,
    shared: false,
    inheritance: INHERIT_COPY,
    wired: false,
    ...r,
  };
}

/** [start, wired] of each user entry (from the VM's own inspection). */
function wiring(t: TestSystem<VmLayer>, s: VmSpace): [number, boolean][] {
  return t.vm
    .entries(s)
    .filter((e) => e.backing !== "kernel")
    .map((e) => [e.start, e.wired] as [number, boolean]);
}

/**
 * The suite, for the VM layer `make` builds harnesses for. `make({ pages: 80, swapSlots: 0 })` is a
 * small machine without swap: a wiring that outgrows free memory has nothing to page out.
 */
export function describeWireShortage(make: (opts?: TestSystemOptions) => TestSystem<VmLayer>): void {
  const small = () => make({ pages: 80, swapSlots: 0 });

  describe("wiring that finds no memory unwinds what it wired (decision 0011)", () => {
    it("mlock across two entries: the failing call leaves nothing newly locked, the earlier lock stays", () => {
      const t = small();
      const s = t.spawn();
      t.mmap(s, 4 * P, { addr: A, fixed: true });
      t.mmap(s, 100 * P, { addr: A + 4 * P, fixed: true, prot: Prot.Read });
      expect(t.vm.wire(s, A, 4 * P, "mlock")).toBe(KERN_SUCCESS);
      const wired = t.vm.wiredPages;
      expect(t.vm.wire(s, A, 104 * P, "mlock")).toBe(KERN_RESOURCE_SHORTAGE);
      expect(t.vm.wiredPages).toBe(wired);
      expect(t.vm.userWiredPages(s)).toBe(4);
      expect(t.pmapOf(s).wiredCount).toBe(4);
      expect(wiring(t, s).filter(([, w]) => w)).toEqual([[A, true]]);
      t.audit();
      // The old lock is whole: one munlock undoes it; the new range was never locked.
      expect(t.vm.unwire(s, A, 4 * P, "mlock")).toBe(KERN_SUCCESS);
      expect(t.vm.unwire(s, A + 4 * P, P, "mlock")).not.toBe(KERN_SUCCESS);
      expect(t.vm.userWiredPages(s)).toBe(0);
      t.audit();
    });

    it("a transient wiring (vslock) that fails part-way over a locked buffer leaves the lock's PTEs wired", () => {
      const t = small();
      const s = t.spawn();
      t.mmap(s, 2 * P, { addr: A, fixed: true });
      expect(t.vm.wire(s, A, 2 * P, "mlock")).toBe(KERN_SUCCESS);
      expect(t.pmapOf(s).wiredCount).toBe(2);
      // read(2) into [A + P, A + 3P): the buffer runs past the mapping, so the wiring fails.
      expect(t.vm.wire(s, A + P, 2 * P, "transient")).not.toBe(KERN_SUCCESS);
      expect(t.pmapOf(s).wiredCount).toBe(2);
      expect(t.vm.userWiredPages(s)).toBe(2);
      t.audit();
      expect(t.vm.unwire(s, A, 2 * P, "mlock")).toBe(KERN_SUCCESS);
      expect(t.pmapOf(s).wiredCount).toBe(0);
      t.audit();
    });

    it("mlockall(MCL_CURRENT|MCL_FUTURE): the failing MCL_CURRENT unwinds, the earlier lock and MCL_FUTURE stay", () => {
      const t = small();
      const s = t.spawn();
      t.mmap(s, 4 * P, { addr: A, fixed: true });
      t.mmap(s, 100 * P, { addr: A + 16 * P, fixed: true });
      expect(t.vm.wire(s, A, 4 * P, "mlock")).toBe(KERN_SUCCESS);
      const wired = t.vm.wiredPages;
      expect(t.vm.wireAll(s, true, true)).toBe(KERN_RESOURCE_SHORTAGE);
      expect(t.vm.wiredPages).toBe(wired);
      expect(t.vm.userWiredPages(s)).toBe(4);
      t.audit();
      // MCL_FUTURE was recorded first (uvm_map_pageable_all): a later mapping is wired at once
      // (once the pages the failed call faulted in are given back).
      expect(t.vm.unmap(s, A + 16 * P, 100 * P)).toBe(KERN_SUCCESS);
      t.mmap(s, P);
      expect(t.vm.userWiredPages(s)).toBe(5);
      t.audit();
    });

    it("a MAP_WIRED mapping that cannot be wired is not made (uvm_mmap unmaps it)", () => {
      const t = small();
      const s = t.spawn();
      const wired = t.vm.wiredPages;
      const free = t.vm.freePages;
      expect(t.vm.map(s, req(A, 100 * P, { wired: true })).rv).toBe(KERN_RESOURCE_SHORTAGE);
      expect(t.vm.isMapped(s, A, P)).toBe(false);
      expect(t.vm.wiredPages).toBe(wired);
      expect(t.vm.freePages).toBeGreaterThanOrEqual(free - 2);
      t.audit();
      // Under MCL_FUTURE the same: no mapping.
      expect(t.vm.wireAll(s, false, true)).toBe(KERN_SUCCESS);
      expect(t.vm.map(s, req(A, 100 * P)).rv).toBe(KERN_RESOURCE_SHORTAGE);
      expect(t.vm.isMapped(s, A, P)).toBe(false);
      expect(t.vm.userWiredPages(s)).toBe(0);
      t.audit();
    });

    it("mprotect out of PROT_NONE under MCL_FUTURE that cannot wire keeps the new protection, unwired", () => {
      const t = small();
      const s = t.spawn();
      expect(t.vm.wireAll(s, false, true)).toBe(KERN_SUCCESS);
      t.mmap(s, 100 * P, { addr: A, fixed: true, prot: Prot.None });
      expect(t.vm.userWiredPages(s)).toBe(0);
      expect(t.vm.protect(s, A, 100 * P, RW, false)).toBe(KERN_RESOURCE_SHORTAGE);
      const mine = t.vm.entries(s).filter((e) => e.backing !== "kernel");
      expect(mine.map((e) => [e.start, e.end, e.prot, e.wired])).toEqual([[A, A + 100 * P, RW, false]]);
      expect(t.vm.userWiredPages(s)).toBe(0);
      expect(t.pmapOf(s).wiredCount).toBe(0);
      t.audit();
      t.store8(s, A, 7);
      expect(t.load8(s, A)).toBe(7);
      t.audit();
    });
  });

  describe("fork whose copies of wired memory find no memory, even by waiting", () => {
    it("vmspace_fork answers null, frees the child it built, and the parent is as it was", () => {
      const t = small();
      const s = t.spawn();
      t.mmap(s, 40 * P, { addr: A, fixed: true });
      t.fillPages(s, A, 40 * P, 9);
      expect(t.vm.wire(s, A, 40 * P, "mlock")).toBe(KERN_SUCCESS);
      const free = t.vm.freePages;
      const wired = t.vm.wiredPages;
      expect(t.vm.fork(s)).toBeNull();
      expect(t.vm.freePages).toBe(free);
      expect(t.vm.wiredPages).toBe(wired);
      expect(t.vm.userWiredPages(s)).toBe(40);
      expect(t.readPages(s, A, 40 * P)).toEqual(new Array(40).fill(9));
      t.audit();
      // Unlocked, the region is shared copy-on-write instead: fork needs no copies and works.
      expect(t.vm.unwire(s, A, 40 * P, "mlock")).toBe(KERN_SUCCESS);
      const c = t.fork(s);
      expect(t.readPages(c, A, 40 * P)).toEqual(new Array(40).fill(9));
      t.audit();
    });
  });

  describe("mlockall(MCL_FUTURE) and SysV attaches", () => {
    it("a later anonymous mapping is wired, a SysV attach (shmat's uvm_map) is not", () => {
      const t = make();
      const s = t.spawn();
      expect(t.vm.wireAll(s, false, true)).toBe(KERN_SUCCESS);
      const shm = t.vm.shmCreate(4 * P);
      const { rv } = t.vm.map(
        s,
        req(A, 4 * P, { shared: true, inheritance: INHERIT_SHARE, backing: { kind: "shm", shm, offset: 0 } }),
      );
      expect(rv).toBe(KERN_SUCCESS);
      expect(t.vm.userWiredPages(s)).toBe(0);
      expect(wiring(t, s)).toEqual([[A, false]]);
      t.mmap(s, 2 * P, { addr: A + 16 * P, fixed: true });
      expect(t.vm.userWiredPages(s)).toBe(2);
      t.store8(s, A, 3);
      expect(t.load8(s, A)).toBe(3);
      t.audit();
    });
  });
}
