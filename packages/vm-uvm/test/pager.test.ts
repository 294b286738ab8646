import {
  INHERIT_SHARE,
  KERN_FAILURE,
  KERN_MEMORY_ERROR,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PAGE_SIZE,
  Prot,
  type VmSpace,
  type Vnode,
} from "@vmlab/core";
import { EIO, type FakeVnode } from "@vmlab/testkit";
import { describe, expect, it } from "vitest";
import { PG_BUSY } from "../src/uvm_page.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function fileOf(t: TestSystem, pages: number, fill: (i: number) => number = (i) => i + 1): FakeVnode {
  const bytes = new Uint8Array(pages * P);
  for (let i = 0; i < pages; i++) bytes[i * P] = fill(i);
  return t.io.createFile(bytes);
}

function mapFile(t: TestSystem, s: VmSpace, vp: Vnode, len: number, shared: boolean, prot = RW): number {
  return t.mmap(s, len, { prot, shared, backing: { kind: "vnode", vnode: vp, offset: 0 } });
}

/** read(2)/write(2) through vnodeRdwr: bytes at `offset`. */
function rdwr(t: TestSystem, vp: Vnode, offset: number, data: Uint8Array | number, write = false): Uint8Array {
  const len = typeof data === "number" ? data : data.length;
  const out = new Uint8Array(len);
  const rv = t.vm.vnodeRdwr(vp, offset, len, write, (pa, pageOffset, done, n) => {
    for (let i = 0; i < n; i++) {
      if (write) t.pmap.write8(pa + pageOffset + i, (data as Uint8Array)[done + i] as number);
      else out[done + i] = t.pmap.read8(pa + pageOffset + i);
    }
  });
  expect(rv).toBe(KERN_SUCCESS);
  return out;
}

describe("uvn: file mappings and the merged cache", () => {
  it("a shared mapping pages in from the file (2A) and is coherent with write()", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 3);
    const a = mapFile(t, s, vp, 3 * P, true);
    expect(t.readPages(s, a, 3 * P)).toEqual([1, 2, 3]);
    expect(t.stat("vm.pagein")).toBe(3);
    rdwr(t, vp, P, Uint8Array.of(42), true);
    expect(t.load8(s, a + P)).toBe(42);
    t.store8(s, a + 2 * P, 9);
    expect(rdwr(t, vp, 2 * P, 1)[0]).toBe(9);
    t.audit();
  });

  it("MAP_PRIVATE sees the file's current page until its first write copies it (2B)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 2);
    const a = mapFile(t, s, vp, 2 * P, false);
    expect(t.load8(s, a)).toBe(1);
    rdwr(t, vp, 0, Uint8Array.of(5), true);
    expect(t.load8(s, a)).toBe(5);
    t.store8(s, a, 6);
    expect(t.stat("vm.fault.cow")).toBe(1);
    rdwr(t, vp, 0, Uint8Array.of(7), true);
    expect(t.load8(s, a)).toBe(6);
    expect(rdwr(t, vp, 0, 1)[0]).toBe(7);
    t.audit();
  });

  it("a private write into a shared amap removes the sharers' mappings of the object page", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const vp = fileOf(t, 1);
    const a = mapFile(t, p, vp, P, false);
    t.vm.inherit(p, a, P, INHERIT_SHARE);
    expect(t.load8(p, a)).toBe(1);
    const c = t.fork(p);
    expect(t.load8(c, a)).toBe(1);
    t.store8(p, a, 2);
    expect(t.load8(c, a)).toBe(2);
    t.audit();
  });

  it("an access at or past the page holding EOF is KERN_MEMORY_ERROR (SIGBUS)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = t.io.createFile(new Uint8Array(P + 10));
    const a = mapFile(t, s, vp, 4 * P, true);
    expect(t.tryLoad(s, a + P + 100)).toEqual({ value: 0 });
    expect(t.tryLoad(s, a + 2 * P)).toBe(KERN_MEMORY_ERROR);
    t.audit();
  });

  it("an I/O error on page-in is KERN_MEMORY_ERROR and leaves nothing behind", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 1);
    const a = mapFile(t, s, vp, P, true);
    t.io.failNext = 1;
    expect(t.tryLoad(s, a)).toBe(KERN_MEMORY_ERROR);
    t.audit();
    expect(t.load8(s, a)).toBe(1);
  });

  it("a fault waits for a busy page (PG_WANTED) instead of reading it twice", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 1);
    const a = mapFile(t, s, vp, P, true);
    expect(t.load8(s, a)).toBe(1);
    t.store8(s, a, 3);
    // Start a write-back and leave it in flight: the page is busy until the interrupt.
    expect(t.vm.sync(s, a, P, MS_ASYNC)).toBe(KERN_SUCCESS);
    const pg = t.pageAtVa(s, a) ?? t.vm.pages.pages.find((p) => p.uobject?.lookup(0) === p);
    expect((pg?.flags ?? 0) & PG_BUSY).toBe(PG_BUSY);
    t.audit();
    const waits = t.stat("vm.page.busy_wait");
    t.store8(s, a, 4);
    expect(t.stat("vm.page.busy_wait")).toBe(waits + 1);
    expect(t.io.fileBytes(vp)[0]).toBe(3);
    expect(t.load8(s, a)).toBe(4);
    t.audit();
  });

  it("msync: MS_SYNC writes back, MS_INVALIDATE drops clean pages so the next access re-reads", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 2);
    const a = mapFile(t, s, vp, 2 * P, true);
    t.store8(s, a, 10);
    expect(t.vm.sync(s, a, 2 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.io.fileBytes(vp)[0]).toBe(10);
    expect(t.stat("vm.pageout")).toBe(1);
    const reads = t.io.reads;
    expect(t.vm.sync(s, a, 2 * P, MS_SYNC | MS_INVALIDATE)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.load8(s, a)).toBe(10);
    expect(t.io.reads).toBe(reads + 1);
    t.audit();
  });

  it("MS_INVALIDATE over wired memory is KERN_FAILURE; msync of anonymous memory does nothing", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 1);
    const a = mapFile(t, s, vp, P, true);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.sync(s, a, P, MS_INVALIDATE)).toBe(KERN_FAILURE);
    const b = t.mmap(s, P);
    t.store8(s, b, 1);
    expect(t.vm.sync(s, b, P, MS_SYNC | MS_INVALIDATE)).toBe(KERN_SUCCESS);
    expect(t.load8(s, b)).toBe(1);
    t.audit();
  });

  it("vnodeSync writes dirty file pages; truncation drops pages past EOF and zeroes the new tail", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const vp = fileOf(t, 3);
    const a = mapFile(t, s, vp, 3 * P, true);
    t.fillPages(s, a, 3 * P, 0x77);
    t.store8(s, a + P + 200, 0x55);
    expect(t.vm.vnodeSync(vp, 0, 3 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.io.fileBytes(vp)[2 * P]).toBe(0x77);
    const old = vp.size;
    vp.size = P + 100;
    t.vm.vnodeSetSize(vp, old);
    t.audit();
    expect(t.tryLoad(s, a + 2 * P)).toBe(KERN_MEMORY_ERROR);
    expect(t.load8(s, a + P)).toBe(0x77);
    expect(t.load8(s, a + P + 200)).toBe(0);
    t.audit();
  });
});

describe("swap and the pagedaemon", () => {
  it("dirty anonymous pages go to swap and come back (swap slots freed with their anons)", () => {
    const t = new TestSystem({ pages: 120, swapSlots: 64 });
    const s = t.spawn();
    const n = 150;
    const a = t.mmap(s, n * P);
    for (let i = 0; i < n; i++) t.store8(s, a + i * P, i & 0xff);
    t.audit();
    expect(t.stat("vm.swapout")).toBeGreaterThan(0);
    for (let i = 0; i < n; i++) expect(t.load8(s, a + i * P)).toBe(i & 0xff);
    expect(t.stat("vm.swapin")).toBeGreaterThan(0);
    t.audit();
    t.exit(s);
    t.io.complete();
    expect(t.io.swapFreeSlots).toBe(64);
    t.vm.pagedaemon();
    t.audit();
  });

  it("the pagedaemon never frees wired or busy pages, and frees clean file pages", () => {
    const t = new TestSystem({ pages: 200 });
    const s = t.spawn();
    const vp = fileOf(t, 8);
    const a = mapFile(t, s, vp, 8 * P, true, Prot.Read);
    const w = t.mmap(s, 4 * P);
    expect(t.vm.wire(s, w, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.readPages(s, a, 8 * P)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Squeeze: hold every free page but a few, then scan twice (deactivate, then free).
    const held = [];
    while (t.vm.freePages > 2) held.push(t.vm.allocPage({}));
    t.vm.pagedaemon();
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout.freed")).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) expect(t.pageAtVa(s, w + i * P)?.wireCount).toBe(1);
    t.audit();
    for (const pg of held) if (pg) t.vm.freePage(pg);
    expect(t.readPages(s, a, 8 * P)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    t.audit();
  });

  it("out of swap: dirty anonymous pages stay, and the fault that cannot get memory fails", () => {
    const t = new TestSystem({ pages: 60, swapSlots: 0 });
    const s = t.spawn();
    const a = t.mmap(s, 100 * P);
    let rv = KERN_SUCCESS;
    let i = 0;
    for (; i < 100 && rv === KERN_SUCCESS; i++) rv = t.tryStore(s, a + i * P, 1);
    expect(rv).toBe(KERN_RESOURCE_SHORTAGE);
    expect(t.stat("vm.swap.full")).toBeGreaterThan(0);
    t.audit();
  });

  it("a failed swap write leaves the page dirty; it is written again later", () => {
    const t = new TestSystem({ pages: 100, swapSlots: 64 });
    const s = t.spawn();
    const a = t.mmap(s, 20 * P);
    t.fillPages(s, a, 20 * P, 3);
    t.io.failNext = 2;
    const held = [];
    while (t.vm.freePages > 1) held.push(t.vm.allocPage({}));
    t.vm.pagedaemon();
    t.vm.pagedaemon();
    t.io.complete();
    t.audit();
    for (const pg of held) if (pg) t.vm.freePage(pg);
    expect(t.readPages(s, a, 20 * P).every((v) => v === 3)).toBe(true);
    void EIO;
    t.audit();
  });
});

describe("SysV shared memory (aobj)", () => {
  it("segments are shared, swap-backed, wired by SHM_LOCK, and freed at the last detach after IPC_RMID", () => {
    const t = new TestSystem({ pages: 150, swapSlots: 64 });
    const p = t.spawn();
    const shm = t.vm.shmCreate(4 * P);
    const a = t.mmap(p, 4 * P, { shared: true, backing: { kind: "shm", shm, offset: 0 } });
    const c = t.fork(p);
    t.store8(c, a + P, 5);
    expect(t.load8(p, a + P)).toBe(5);
    expect(t.vm.shmLock(shm, true)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBeGreaterThanOrEqual(4);
    t.audit();
    expect(t.vm.shmLock(shm, false)).toBe(KERN_SUCCESS);
    // Under pressure the segment's pages go to swap and come back.
    const b = t.mmap(p, 200 * P);
    for (let i = 0; i < 200; i++) t.store8(p, b + i * P, 1);
    expect(t.load8(c, a + P)).toBe(5);
    t.audit();
    t.vm.shmRelease(shm);
    t.exit(c);
    expect(t.load8(p, a + P)).toBe(5);
    t.exit(p);
    t.io.complete();
    t.audit();
    expect(t.vm.shmObjects.size).toBe(0);
  });
});
