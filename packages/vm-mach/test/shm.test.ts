import {
  INHERIT_COPY,
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  type MapRequest,
  PAGE_SIZE,
  Prot,
  type VmPage,
  type VmSpace,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { MachShm } from "../src/vm_shm.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function pressure(t: TestSystem): void {
  t.vm.pagedaemon();
  const held: VmPage[] = [];
  while (t.vm.freePages >= t.vm.freeMin) held.push(t.vm.allocPage({}) as VmPage);
  t.vm.pagedaemon();
  t.io.complete();
  t.vm.pagedaemon();
  for (const pg of held) t.vm.freePage(pg);
}

function pageAt(t: TestSystem, s: VmSpace, va: number) {
  const pa = t.pmapOf(s).extract(va);
  return pa === undefined ? undefined : t.vm.pages.pageOf(pa);
}

describe("SysV shared memory", () => {
  it("a segment is one anonymous object shared by every attach, swap-backed, freed at the last detach after IPC_RMID", () => {
    const t = new TestSystem();
    const seg = t.vm.shmCreate(3 * P + 1) as MachShm;
    expect(seg.size).toBe(4 * P);
    const p = t.spawn();
    const q = t.spawn();
    const a = t.mmap(p, 4 * P, { shared: true, backing: { kind: "shm", shm: seg, offset: 0 } });
    const b = t.mmap(q, 2 * P, { shared: true, backing: { kind: "shm", shm: seg, offset: 2 * P } });
    t.store8(p, a + 2 * P, 7);
    expect(t.load8(q, b)).toBe(7);
    t.store8(q, b + P, 8);
    expect(t.load8(p, a + 3 * P)).toBe(8);
    t.audit();
    pressure(t);
    expect(t.stat("vm.swapout")).toBeGreaterThanOrEqual(2);
    expect(t.load8(q, b)).toBe(7);
    expect(t.load8(p, a + 3 * P)).toBe(8);
    t.audit();
    const c = t.fork(p);
    t.store8(c, a, 9);
    expect(t.load8(q, b - 2 * P + 2 * P)).toBe(7);
    expect(t.load8(p, a)).toBe(9);
    t.exit(c);
    t.vm.shmRelease(seg); // IPC_RMID: the attaches keep the object
    expect(seg.object.alive).toBe(true);
    expect(t.load8(p, a)).toBe(9);
    t.exit(p);
    t.exit(q);
    expect(seg.object.alive).toBe(false);
    expect(t.vm.swapInUse).toBe(0);
    t.audit();
  });

  it("SHM_LOCK wires every page of the object, paging in what went to swap; SHM_UNLOCK unwires", () => {
    const t = new TestSystem();
    const seg = t.vm.shmCreate(4 * P);
    const p = t.spawn();
    const a = t.mmap(p, 4 * P, { shared: true, backing: { kind: "shm", shm: seg, offset: 0 } });
    t.store8(p, a, 1);
    t.store8(p, a + P, 2);
    pressure(t);
    expect(t.pmapOf(p).extract(a)).toBeUndefined();
    const w0 = t.vm.wiredPages;
    expect(t.vm.shmLock(seg, true)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0 + 4);
    expect(t.vm.shmLock(seg, true)).toBe(KERN_SUCCESS); // no nesting
    expect(t.vm.wiredPages).toBe(w0 + 4);
    t.audit();
    pressure(t);
    expect(t.readPages(p, a, 4 * P)).toEqual([1, 2, 0, 0]);
    // A wired entry over a locked page counts on top of the lock.
    expect(t.vm.wire(p, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(pageAt(t, p, a)?.wireCount).toBe(2);
    t.audit();
    expect(t.vm.unwire(p, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.shmLock(seg, false)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0);
    t.audit();
    t.vm.shmLock(seg, true);
    t.vm.shmRelease(seg); // releasing a locked segment unlocks it
    expect(t.vm.wiredPages).toBe(w0);
    t.exit(p);
    t.audit();
  });

  it("rejects a segment that is not live and a misaligned offset", () => {
    const t = new TestSystem();
    const seg = t.vm.shmCreate(P);
    const p = t.spawn();
    const req: MapRequest = {
      addr: 0,
      len: P,
      prot: RW,
      maxProt: Prot.All,
      fixed: false,
      shared: true,
      inheritance: INHERIT_COPY,
      wired: false,
    };
    expect(t.vm.map(p, { ...req, backing: { kind: "shm", shm: seg, offset: 5 } }).rv).toBe(KERN_INVALID_ARGUMENT);
    t.vm.shmRelease(seg);
    expect(t.vm.map(p, { ...req, backing: { kind: "shm", shm: seg, offset: 0 } }).rv).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.map(p, { ...req, prot: RW, maxProt: Prot.Read }).rv).toBe(KERN_PROTECTION_FAILURE);
    t.audit();
  });
});
